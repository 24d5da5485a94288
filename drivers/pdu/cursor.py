"""A read cursor over PDU octets that fails with ``PduError`` instead of IndexError."""

from __future__ import annotations

from drivers.errors import PduError


class Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def octet(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"PDU ends before {what}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int, what: str) -> bytes:
        end = self.pos + count
        if count < 0 or end > len(self.data):
            raise PduError(f"PDU ends inside {what} ({count} octets needed)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk
