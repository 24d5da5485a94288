"""The codec against the shared third-party PDU vectors (read in place, never copied).

Each vector's ``expected`` holds only what its source asserted; every such field is
compared with our decode, using the time stamp conventions the vectors' README gives.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import PduError
from drivers.pdu import Deliver, Encoding, StatusReport, Submit, decode, encode, gsm7

VECTORS_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "vectors"
VECTORS_FILE = VECTORS_DIR / "pdu-vectors.json"

pytestmark = pytest.mark.skipif(
    not VECTORS_FILE.is_file(), reason=f"shared PDU vectors not present at {VECTORS_FILE}"
)

# Deliberate differences from a source's assertion, with the reason.
DEVIATIONS = {
    # TP-UDL says 160 octets but 4 follow: we refuse truncated user data (PduError)
    # rather than return a partial text as if it were whole.
    "gsmmodem-submit-ucs2-bad-udl": "truncated user data raises PduError",
}

# Fields a source names differently from what it holds: (vector id, field) -> our field.
# xlab's "tpdu_length" of 120 is TP-UDL (0x78); the TPDU itself is 139 octets.
RENAMED_FIELDS = {("xlab-deliver-ucs2-ru", "tpdu_length"): "udl"}


def _load() -> list[dict[str, Any]]:
    if not VECTORS_FILE.is_file():
        return []
    vectors: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return vectors


def _timestamp_matches(ours: datetime, key: str, value: str) -> bool:
    if key.endswith("_utc"):
        return ours.astimezone(UTC).replace(tzinfo=None) == datetime.fromisoformat(value)
    if key.endswith("_local"):
        return ours.replace(tzinfo=None) == datetime.fromisoformat(value)
    expected = datetime.fromisoformat(value)
    # qotto's "98" is asserted as 2098 and others may read 1998: compare yy-MM-dd only.
    same_clock = ours.strftime("%y-%m-%d %H:%M:%S") == expected.strftime("%y-%m-%d %H:%M:%S")
    return same_clock and ours.utcoffset() == expected.utcoffset()


def _validity_matches(ours: object, expected: dict[str, Any]) -> bool:
    if expected["format"] == "absolute":
        return isinstance(ours, datetime) and _timestamp_matches(ours, "", expected["value"])
    if "weeks" in expected:
        return ours == timedelta(weeks=expected["weeks"])
    if "days" in expected:
        return ours == timedelta(days=expected["days"])
    if "relative_seconds" in expected:  # enhanced; single-shot has no field in Submit
        return ours == timedelta(seconds=expected["relative_seconds"])
    tp_vp = expected.get("tp_vp", expected.get("relative_tp_vp"))
    return tp_vp is not None and ours == timedelta(minutes=5 * (tp_vp + 1))


def _udl(decoded: Deliver | Submit) -> int:
    """UDL recomputed from what we decoded (no UDH in the vectors that assert it)."""
    if decoded.encoding is Encoding.GSM7:
        septets = gsm7.to_septets(decoded.text)
        assert septets is not None
        return len(septets)
    if decoded.encoding is Encoding.UCS2:
        return len(decoded.text.encode("utf-16-be"))
    return len(decoded.data)


def _report_field(report: StatusReport, key: str) -> object:
    fields: dict[str, object] = {
        "number": report.recipient,
        "message_reference": report.reference,
        "status": report.status,
        "status_category": report.outcome,
        "timestamp": report.timestamp,
        "discharge_time": report.discharge,
    }
    return fields[key]


def _message_field(message: Deliver | Submit, key: str) -> object:
    concat = message.concat
    if key == "text" and message.encoding is Encoding.BIT8:
        return message.data.decode("latin-1")  # the source read its 8-bit bytes as ASCII
    fields: dict[str, object] = {
        "number": message.sender if isinstance(message, Deliver) else message.recipient,
        "text": message.text,
        "encoding": message.encoding.value,
        "udh": concat
        and {
            "concat": {
                "ref": concat.reference,
                "parts": concat.total,
                "seq": concat.sequence,
                "ref_bits": concat.bits,
            }
        },
        "multipart": concat is not None,
        "message_class": message.message_class,
        "dcs": message.dcs,
        "data_hex": message.data.hex().upper(),
        "udl": _udl(message),
    }
    if isinstance(message, Deliver):
        fields["timestamp"] = message.timestamp
    else:
        fields["message_reference"] = message.reference
        fields["validity"] = message.validity
        fields["reject_duplicates"] = message.reject_duplicates
        fields["status_report_request"] = message.request_report
    return fields[key]


def _ours(decoded: Deliver | StatusReport | Submit, key: str, vector: dict[str, Any]) -> object:
    if key == "smsc":
        return decoded.smsc
    if key == "tpdu_length":  # what AT+CMGS would be given: the octets after the SMSC field
        octets = bytes.fromhex(vector["pdu_hex"])
        return len(octets) - (octets[0] + 1 if vector["smsc_included"] else 0)
    base = key.removesuffix("_local").removesuffix("_utc")
    if isinstance(decoded, StatusReport):
        return _report_field(decoded, base)
    return _message_field(decoded, base)


def mismatches(vector: dict[str, Any]) -> list[str]:
    """Every asserted field that our decode does not reproduce, as readable lines."""
    decoded = decode(vector["pdu_hex"], smsc=vector["smsc_included"])
    if decoded.kind != vector["kind"]:
        return [f"kind: expected {vector['kind']}, got {decoded.kind}"]
    bad: list[str] = []
    for asserted, expected in vector["expected"].items():
        key = RENAMED_FIELDS.get((vector["id"], asserted), asserted)
        ours = _ours(decoded, key, vector)
        if key == "validity":
            ok = _validity_matches(ours, expected)
        elif isinstance(ours, datetime):
            ok = _timestamp_matches(ours, key, expected)
        else:
            ok = ours == expected
        if not ok:
            bad.append(f"{asserted}: expected {expected!r}, got {ours!r}")
    return bad


VECTORS = _load()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_decodes_to_its_asserted_fields(vector: dict[str, Any]) -> None:
    if vector["id"] in DEVIATIONS:
        with pytest.raises(PduError):
            decode(vector["pdu_hex"], smsc=vector["smsc_included"])
        return
    assert mismatches(vector) == []


def _encode_inputs(vector: dict[str, Any]) -> dict[str, Any] | None:
    """``encode`` arguments that should rebuild a source's SUBMIT byte for byte, if any.

    Not rebuildable: TP-MR other than 0, TP-RD, PID or DCS (class, 8-bit) we never write,
    enhanced validity, and an alphabet other than the one we would pick.
    """
    if vector["kind"] != "submit" or "encode" not in vector["tags"] or "malformed" in vector:
        return None
    decoded = decode(vector["pdu_hex"])
    assert isinstance(decoded, Submit)
    octets = bytes.fromhex(vector["pdu_hex"])
    enhanced_validity = (octets[octets[0] + 1] >> 3) & 0x03 == 1
    if decoded.reference or decoded.reject_duplicates or decoded.pid or enhanced_validity:
        return None
    if decoded.dcs not in (0x00, 0x08):
        return None
    text = vector["group"]["full_text"] if decoded.concat else decoded.text
    if encode("+1", text)[0].encoding is not decoded.encoding:
        return None
    return {
        "number": decoded.recipient,
        "text": text,
        "request_report": decoded.request_report,
        "validity": decoded.validity,
        "smsc": decoded.smsc,
        "reference": decoded.concat.reference if decoded.concat else None,
        "part": decoded.concat.sequence - 1 if decoded.concat else 0,
    }


ENCODABLE = [(v, inputs) for v in VECTORS if (inputs := _encode_inputs(v)) is not None]


def test_enough_source_submits_are_rebuildable() -> None:
    assert len(ENCODABLE) >= 30


@pytest.mark.parametrize(("vector", "inputs"), ENCODABLE, ids=[v["id"] for v, _ in ENCODABLE])
def test_encode_rebuilds_the_source_pdu(vector: dict[str, Any], inputs: dict[str, Any]) -> None:
    part = inputs.pop("part")
    pdus = encode(inputs.pop("number"), inputs.pop("text"), **inputs)
    assert pdus[part].hex == vector["pdu_hex"].upper()
