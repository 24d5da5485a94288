"""Message memories of the simulated modem ("SM", "ME", "SR", ...) with fixed capacity.

Stat values follow 27.005 PDU mode: 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT.
"""

from __future__ import annotations

from dataclasses import dataclass

REC_UNREAD = 0
REC_READ = 1
STO_UNSENT = 2
STO_SENT = 3
ALL = 4


@dataclass(slots=True)
class StoredSms:
    pdu_hex: str  # with the SMSC part, as AT+CMGR shows it
    tpdu_length: int  # octets without the SMSC part, the <length> field
    stat: int = REC_UNREAD


class Memory:
    """One memory: ``capacity`` slots numbered from ``base``."""

    def __init__(self, name: str, capacity: int, base: int) -> None:
        self.name = name
        self.capacity = capacity
        self.base = base
        self._slots: dict[int, StoredSms] = {}

    @property
    def used(self) -> int:
        return len(self._slots)

    @property
    def full(self) -> bool:
        return len(self._slots) >= self.capacity

    def valid(self, index: int) -> bool:
        return self.base <= index < self.base + self.capacity

    def store(self, sms: StoredSms) -> int | None:
        """Put ``sms`` in the lowest free slot; None when full."""
        for index in range(self.base, self.base + self.capacity):
            if index not in self._slots:
                self._slots[index] = sms
                return index
        return None

    def get(self, index: int) -> StoredSms | None:
        return self._slots.get(index)

    def delete(self, index: int) -> bool:
        return self._slots.pop(index, None) is not None

    def delete_flagged(self, flag: int) -> int:
        """AT+CMGD=<i>,<flag> with flag 1..4: delete by stat; returns how many went."""
        doomed = {
            1: {REC_READ},
            2: {REC_READ, STO_SENT},
            3: {REC_READ, STO_SENT, STO_UNSENT},
            4: {REC_UNREAD, REC_READ, STO_SENT, STO_UNSENT},
        }[flag]
        gone = [i for i, sms in self._slots.items() if sms.stat in doomed]
        for index in gone:
            del self._slots[index]
        return len(gone)

    def listing(self, stat: int) -> list[tuple[int, StoredSms]]:
        return [
            (i, self._slots[i])
            for i in sorted(self._slots)
            if stat == ALL or self._slots[i].stat == stat
        ]

    def clear(self) -> None:
        self._slots.clear()
