"""SMS PDU codec (3GPP TS 23.040 / 23.038): the public surface.

    encode(number, text, *, request_report=True, validity=None, smsc=None,
           reference=None, national=None, reference_bits=None) -> list[SubmitPdu]
    decode(hex_pdu, *, smsc=True) -> Deliver | StatusReport | Submit
    segments(text, *, national=None, reference=None, reference_bits=None) -> (Encoding, count)
    measure(text, *, national=None, ...) -> Measure   (a cost preview from the same plan)

Concatenation references are 8-bit unless ``reference_bits=16`` (or, for older callers,
a reference above 255): 153 GSM-7 / 67 UCS-2 characters a part, as handsets send.
    encode_deliver(...) / encode_status_report(...)   (for the simulator)
    decode_gsm7_packed(data) / decode_ussd(text, dcs, *, packed=False)   (USSD replies)

Our own codec rather than python-gsmmodem-new's ``gsmmodem.pdu``: that one fails on
emoji, on DCS groups other than 00xx, on fill bits after a 16-bit concatenation header,
on references above 255, on validity periods under 5 minutes and on § and form feed;
it stays only as a test oracle for the cases it gets right.

Implementation lives in the sibling modules; this file only re-exports.
"""

from drivers.pdu.decode import decode
from drivers.pdu.encode import encode, encode_deliver, encode_status_report
from drivers.pdu.measure import Measure, measure
from drivers.pdu.segmenting import segments
from drivers.pdu.types import (
    Concat,
    Decoded,
    Deliver,
    Encoding,
    StatusReport,
    Submit,
    SubmitPdu,
)
from drivers.pdu.ussd import decode_gsm7_packed, decode_ussd

__all__ = [
    "Concat",
    "Decoded",
    "Deliver",
    "Encoding",
    "Measure",
    "StatusReport",
    "Submit",
    "SubmitPdu",
    "decode",
    "decode_gsm7_packed",
    "decode_ussd",
    "encode",
    "encode_deliver",
    "encode_status_report",
    "measure",
    "segments",
]
