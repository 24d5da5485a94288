"""SMS PDU codec (3GPP TS 23.040 / 23.038): the public surface.

    encode(number, text, *, request_report=True, validity=None, smsc=None,
           reference=None, national=None) -> list[SubmitPdu]
    decode(hex_pdu, *, smsc=True) -> Deliver | StatusReport | Submit
    segments(text, *, national=None) -> (Encoding, count)
    encode_deliver(...) / encode_status_report(...)   (for the simulator)

Implementation lives in the sibling modules; this file only re-exports.
"""

from drivers.pdu.types import (
    Concat,
    Decoded,
    Deliver,
    Encoding,
    StatusReport,
    Submit,
    SubmitPdu,
)

__all__ = [
    "Concat",
    "Decoded",
    "Deliver",
    "Encoding",
    "StatusReport",
    "Submit",
    "SubmitPdu",
]
