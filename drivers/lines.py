"""Sans-IO splitter: modem bytes in, AT lines and ``> `` prompts out.

Modems end lines with CRLF, CR CR LF or a bare LF, pad responses with blank lines,
and send the AT+CMGS prompt ``> `` with no line ending at all (3GPP TS 27.005 §3.5.1).
Lines are split on LF with CRs and surrounding whitespace stripped. A line that starts
with ``> `` (or ``>`` while a prompt is expected) yields a ``Prompt`` and the rest of it
starts a new line, so the result does not depend on how the bytes were chunked.

Nothing here raises on input: undecodable bytes become U+FFFD and are counted, NULs are
dropped and counted, and a line longer than ``MAX_LINE_BYTES`` is dropped (counted) up to
the next line end, which also caps the buffer.

Line noise (a bad USB cable, a UART at the wrong settings) shows up as stray bytes
0x80-0xFF ahead of a line. AT output is ASCII, so such bytes at the start of a line are
dropped and counted as ``noise_bytes``; a line made of nothing else is dropped whole and
counted in ``noise_lines``, so it can never stand in for a PDU line.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE_BYTES = 2048  # longest PDU line is ~360 hex chars; +CLAC/+CMGL headers fit easily

_LF = 0x0A
_CR = 0x0D
_GT = 0x3E
_SPACE = 0x20
_NUL = 0x00
_HIGH = 0x80  # bytes from here up never start an AT line: noise


def _is_noise(byte: int) -> bool:
    return byte >= _HIGH or byte == _NUL


@dataclass(frozen=True, slots=True)
class Prompt:
    """The ``> `` prompt that asks for the PDU after ``AT+CMGS=<n>``."""


PROMPT = Prompt()

Item = str | Prompt


class LineSplitter:
    """Incremental splitter; ``feed`` returns the items completed by the new bytes."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self.expect_prompt = False  # tolerate ``>`` without its space; cleared by a prompt
        self.garbage_bytes = 0  # replaced or dropped bytes, noise included
        self.noise_bytes = 0  # stray high/NUL bytes ahead of a line (or a prompt)
        self.noise_lines = 0  # lines of noise only, dropped
        self.overlong_lines = 0
        self._buffer = bytearray()
        self._discarding = False  # inside an overlong line: drop until the next LF
        self._bare_prompt = False  # a ">" prompt ended the last feed: its space may follow

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished line (never more than ``max_line``)."""
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()
        self._discarding = False
        self._bare_prompt = False
        self.expect_prompt = False

    def feed(self, data: bytes) -> list[Item]:
        items: list[Item] = []
        if self._discarding:
            lf = data.find(b"\n")
            if lf < 0:
                return items
            self._discarding = False
            data = data[lf + 1 :]
        if self._bare_prompt and data:
            self._bare_prompt = False
            if data[0] == _SPACE:
                data = data[1:]
        buf = self._buffer
        buf += data
        pos = 0
        end = len(buf)
        while pos < end:
            start = pos
            while start < end and (buf[start] == _CR or _is_noise(buf[start])):
                start += 1
            if start < end and buf[start] == _GT:
                if start + 1 < end and buf[start + 1] == _SPACE:
                    items.append(PROMPT)
                    self.expect_prompt = False
                    self._count_noise(buf[pos:start])
                    pos = start + 2
                    continue
                if self.expect_prompt:
                    items.append(PROMPT)
                    self.expect_prompt = False
                    self._count_noise(buf[pos:start])
                    pos = start + 1
                    self._bare_prompt = pos == end
                    continue
            lf = buf.find(b"\n", pos)
            if lf < 0:
                break
            if lf - pos > self.max_line:
                self.overlong_lines += 1
            else:
                text = self._decode(bytes(buf[pos:lf]))
                if text:
                    items.append(text)
            pos = lf + 1
        del buf[:pos]
        if len(buf) > self.max_line:
            self.overlong_lines += 1
            buf.clear()
            self._discarding = True
        return items

    def _count_noise(self, skipped: bytes | bytearray) -> int:
        noise = sum(1 for b in skipped if _is_noise(b))
        self.noise_bytes += noise
        self.garbage_bytes += noise
        return noise

    def _decode(self, raw: bytes) -> str:
        lead = 0
        while lead < len(raw) and (raw[lead] <= _SPACE or raw[lead] >= _HIGH):
            lead += 1
        if self._count_noise(raw[:lead]):
            raw = raw[lead:]
            if not raw.strip():
                self.noise_lines += 1
                return ""
        if b"\x00" in raw:
            stripped = raw.replace(b"\x00", b"")
            self.garbage_bytes += len(raw) - len(stripped)
            raw = stripped
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            self.garbage_bytes += len(raw) - len(raw.decode("utf-8", errors="ignore").encode())
        return text.strip()
