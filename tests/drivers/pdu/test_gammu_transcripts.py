"""Every PDU-mode +CMGR reply in the shared gammu transcripts decodes (read in place)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from drivers.errors import PduError
from drivers.pdu import decode

TRANSCRIPT = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "reference"
    / "vectors"
    / "modem-transcripts"
    / "gammu_at_replies.txt"
)

pytestmark = pytest.mark.skipif(
    not TRANSCRIPT.is_file(), reason=f"shared modem transcripts not present at {TRANSCRIPT}"
)

# 41.dump: TP-UDL says 93 septets (82 octets) but only 79 octets of user data follow.
TRUNCATED = {"tests/at-sms/41.dump"}

# PDU mode: +CMGR: <stat>,[<alpha>],<length>, or phones' variants such as "4,1,,151" and
# "24"; text mode has quoted fields.
_PDU_MODE_HEADER = re.compile(r"\+CMGR:[\d, ]*\d<")
_MARKERS = re.compile(r"<CR>|<LF>|\"")


def _cmgr_pdus() -> list[tuple[str, str]]:
    if not TRANSCRIPT.is_file():
        return []
    found: list[tuple[str, str]] = []
    for block in TRANSCRIPT.read_text(encoding="utf-8").split("\n=== ")[1:]:
        name, *lines = block.split("\n")
        for header, body in itertools.pairwise(lines):
            pdu = _MARKERS.sub("", body).strip()
            if _PDU_MODE_HEADER.match(header) and re.fullmatch(r"[0-9A-Fa-f]+", pdu):
                found.append((name, pdu))
    return found


PDUS = _cmgr_pdus()


def test_all_pdu_mode_replies_were_found() -> None:
    assert len(PDUS) == 36


@pytest.mark.parametrize(("name", "pdu"), PDUS, ids=[name for name, _ in PDUS])
def test_cmgr_pdu_decodes(name: str, pdu: str) -> None:
    if name in TRUNCATED:
        with pytest.raises(PduError):
            decode(pdu)
        return
    decoded = decode(pdu)
    assert decoded.kind in ("deliver", "submit", "status_report")
