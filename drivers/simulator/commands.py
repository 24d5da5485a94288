"""The AT interpreter of the simulated modem: parse a command line, answer it.

Handlers return the information lines of an ``OK`` answer, raise ``AtFinal`` for an
error result, or return None when they answer by themselves (the ``> `` prompt,
a reset). Profile data decides dialect details; no handler branches on a model name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from drivers.simulator.codec import pack_ussd
from drivers.simulator.settings import AtSettings
from drivers.simulator.storage import ALL, REC_READ, REC_UNREAD

if TYPE_CHECKING:
    from drivers.simulator.modem import SimulatedModem

MAX_CMGS_LENGTH: Final = 180  # octets; a TPDU is at most 164 (TS 23.040)

CMS_TEXT: Final = {
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}
CME_TEXT: Final = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    16: "incorrect password",
    21: "invalid index",
    50: "incorrect parameters",
    100: "unknown",
}

# Commands that need an unlocked SIM; answered +CMS ERROR: 311 / +CME ERROR: 11 before.
_SMS_COMMANDS: Final = frozenset(
    {"+CMGS", "+CMGL", "+CMGR", "+CMGD", "+CPMS", "+CSCA", "+CNMA", "+CUSD"}
)
_SIM_COMMANDS: Final = frozenset(
    {"+CIMI", "+CCID", "+QCCID", "^ICCID", "+ICCID", "+CICCID", "+CNUM"}
)
# Harmless settings every family accepts (python-gsmmodem's init sends several).
_JUST_OK: Final = frozenset({"+CLIP", "+CRC", "+CVHU", "+CSMP", "+CSDH", "+CMMS", "&F", "V", "Q"})

_EXTENDED = re.compile(r"([+^$%#*][A-Z0-9]+)(.*)", re.ASCII)
_QUOTED = re.compile(r'"([^"]*)"')


class AtFinal(Exception):
    """An error final result code to answer with."""

    def __init__(self, final: str) -> None:
        super().__init__(final)
        self.final = final


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # "+CMGS", "^CURC", "E", "Z", "" for a bare AT
    kind: str  # "exec", "read" (?), "test" (=?), "set" (=...)
    args: str  # the text after "=" for "set"


def parse(line: str) -> Command | None:
    """Split ``AT<name><suffix>``; None when the line is not an AT command."""
    if len(line) < 2 or line[:2].upper() != "AT":
        return None
    body = line[2:]
    if not body:
        return Command("", "exec", "")
    match = _EXTENDED.fullmatch(body.upper()) if body[0] in "+^$%#*" else None
    if match is not None:
        name = match.group(1)
        rest = body[len(name) :]
        if rest == "":
            return Command(name, "exec", "")
        if rest == "?":
            return Command(name, "read", "")
        if rest == "=?":
            return Command(name, "test", "")
        if rest.startswith("="):
            return Command(name, "set", rest[1:].strip())
        return Command(name, "exec", rest)
    upper = body.upper()
    if upper[0] == "&" and len(upper) > 1:
        return Command(upper[:2], "set" if upper[2:] else "exec", upper[2:])
    return Command(upper[0], "set" if upper[1:] else "exec", upper[1:])


def error_final(sim: SimulatedModem, kind: str, number: int) -> str:
    """``+CMS ERROR``/``+CME ERROR`` as AT+CMEE says: plain, numeric or verbose."""
    mode = sim.settings.cmee
    if mode == 0:
        return "ERROR"
    if mode == 2:
        table = CMS_TEXT if kind == "CMS" else CME_TEXT
        return f"+{kind} ERROR: {table.get(number, 'unknown error')}"
    return f"+{kind} ERROR: {number}"


def _cms(sim: SimulatedModem, number: int) -> AtFinal:
    return AtFinal(error_final(sim, "CMS", number))


def _cme(sim: SimulatedModem, number: int) -> AtFinal:
    return AtFinal(error_final(sim, "CME", number))


def _unknown(sim: SimulatedModem) -> AtFinal:
    return AtFinal(sim.profile.unknown_final)


def _ints(sim: SimulatedModem, args: str) -> list[int]:
    try:
        return [int(a) if a.strip() else 0 for a in args.split(",")]
    except ValueError:
        raise _cme(sim, 50) from None


def _one_int(sim: SimulatedModem, args: str, allowed: range | tuple[int, ...]) -> int:
    values = _ints(sim, args)
    if len(values) != 1 or values[0] not in allowed:
        raise _cme(sim, 50)
    return values[0]


Reply = list[str] | None
Handler = Callable[["SimulatedModem", Command], Reply]


def _commands(line: str) -> list[str]:
    """One line's commands: V.250 concatenates extended ones with ``;`` (outside quotes)."""
    parts, start, quoted = [], 0, False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append(line[start:i])
            start = i + 1
    parts.append(line[start:])
    rest = [p.strip() for p in parts[1:]]
    if not all(p[:1] in "+^$%#*" for p in rest):
        return [line]  # a trailing ";" or a basic command after one: not concatenation
    return [parts[0], *(f"AT{p}" for p in rest)]


def dispatch(sim: SimulatedModem, line: str) -> None:
    """Answer one command line: its commands in turn, then one final result code.

    The first error ends the line (what ran before it stays done). A command that
    answers on its own (``+CMGS``'s prompt, ``+CMGD``) ends the line too.
    """
    lines: list[str] = []
    for part in _commands(line):
        cmd = parse(part)
        if cmd is None:
            return  # not an AT command: a modem ignores it
        try:
            reply = _run(sim, cmd)
        except AtFinal as final:
            sim.respond(lines, final.final)
            return
        if reply is None:
            return
        lines += reply
    sim.respond(lines, "OK")


def _run(sim: SimulatedModem, cmd: Command) -> Reply:
    handler = HANDLERS.get(cmd.name)
    if handler is None:
        if cmd.name in sim.profile.extra_ok or cmd.name in _JUST_OK:
            return []
        if cmd.name in sim.profile.iccid_commands:
            return _iccid(sim, cmd)
        raise _unknown(sim)
    if not sim.pin_ok:
        if cmd.name in _SMS_COMMANDS:
            raise _cms(sim, 311)
        if cmd.name in _SIM_COMMANDS:
            raise _cme(sim, 11)
    return handler(sim, cmd)


# ---------------------------------------------------------------- basic commands


def _at(sim: SimulatedModem, cmd: Command) -> Reply:
    return []


def _echo(sim: SimulatedModem, cmd: Command) -> Reply:
    sim.settings.echo = _one_int(sim, cmd.args or "0", (0, 1)) == 1
    return []


def _atz(sim: SimulatedModem, cmd: Command) -> Reply:
    sim.respond((), "OK")
    sim.settings = AtSettings.for_profile(sim.profile)
    return None


def _ati(sim: SimulatedModem, cmd: Command) -> Reply:
    p = sim.profile
    return [p.manufacturer, p.model, f"Revision: {p.revision}"]


def _cmee(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        return [f"+CMEE: {sim.settings.cmee}"]
    if cmd.kind == "test":
        return ["+CMEE: (0-2)"]
    sim.settings.cmee = _one_int(sim, cmd.args, (0, 1, 2))
    return []


# ---------------------------------------------------------------- identity and SIM


def _value(get: Callable[[SimulatedModem], str]) -> Handler:
    def handler(sim: SimulatedModem, cmd: Command) -> Reply:
        if cmd.kind == "test":
            return []
        if cmd.kind != "exec":
            raise _unknown(sim)
        return [get(sim)]

    return handler


def _iccid(sim: SimulatedModem, cmd: Command) -> Reply:
    if not sim.pin_ok:
        raise _cme(sim, 11)
    if cmd.kind == "test":
        return []
    return [f"{sim.profile.iccid_prefix}{sim.iccid}"]


def _cnum(sim: SimulatedModem, cmd: Command) -> Reply:
    """3GPP TS 27.007 §7.1: one line per number the SIM holds (here one, international,
    written without its + as most firmwares do), or a bare OK when it holds none."""
    if not sim.pin_ok:
        raise _cme(sim, 11)
    if cmd.kind == "test":
        return []
    if cmd.kind != "exec":
        raise _unknown(sim)
    if sim.own_number is None:
        return []
    international = sim.own_number.startswith("+")
    return [f'+CNUM: "","{sim.own_number.lstrip("+")}",{145 if international else 129}']


def _cpin(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        state = "+CPIN: READY" if sim.pin_ok else "+CPIN: SIM PIN"
        if sim.profile.cpin_no_ok:
            sim.urc(state)  # the information line alone: no OK follows (Wavecom)
            return None
        return [state]
    if cmd.kind == "test":
        return []
    if cmd.kind != "set":
        raise _cme(sim, 50)
    values = _QUOTED.findall(cmd.args) or [cmd.args]
    if sim.pin_ok:
        raise _cme(sim, 3)
    if values[0] != sim.pin:
        raise _cme(sim, 16)
    sim.pin_ok = True
    sim.respond((), "OK")
    for urc in sim.profile.pin_boot_urcs:
        sim.urc(urc)
    return None


# ---------------------------------------------------------------- SMS settings


def _cmgf(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        return [f"+CMGF: {sim.settings.cmgf}"]
    if cmd.kind == "test":
        return ["+CMGF: (0,1)"]
    sim.settings.cmgf = _one_int(sim, cmd.args, (0, 1))
    return []


def _cscs(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        return [f'+CSCS: "{sim.settings.cscs}"']
    if cmd.kind == "test":
        return ['+CSCS: ("IRA","GSM","UCS2")']
    names = _QUOTED.findall(cmd.args)
    if len(names) != 1 or names[0].upper() not in ("IRA", "GSM", "UCS2", "HEX", "8859-1"):
        raise _cme(sim, 4)
    sim.settings.cscs = names[0].upper()
    return []


def _csms(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        return [f"+CSMS: {sim.settings.csms},1,1,1"]
    if cmd.kind == "test":
        return ["+CSMS: (0,1)"]
    sim.settings.csms = _one_int(sim, cmd.args, (0, 1))
    return ["+CSMS: 1,1,1"]


def _cpms(sim: SimulatedModem, cmd: Command) -> Reply:
    s = sim.settings
    mems = sim.profile.memories
    writable = tuple(m for m in mems if m != "SR")  # status reports only arrive
    if cmd.kind == "test" and sim.profile.cpms_test is not None:
        return [sim.profile.cpms_test]
    if cmd.kind == "test":
        first = ",".join(f'"{m}"' for m in mems)
        rest = ",".join(f'"{m}"' for m in writable)
        return [f"+CPMS: ({first}),({rest}),({rest})"]
    if cmd.kind == "read":
        fields = []
        for name in (s.mem1, s.mem2, s.mem3):
            mem = sim.memories[name]
            fields.append(f'"{name}",{mem.used},{mem.capacity}')
        return ["+CPMS: " + ",".join(fields)]
    if cmd.kind != "set":
        raise _cms(sim, 302)
    names = [n.upper() for n in _QUOTED.findall(cmd.args)]
    if not names or len(names) > sim.profile.cpms_max_params:
        raise _cms(sim, 302)
    allowed = (mems, writable, writable)
    for name, ok in zip(names, allowed, strict=False):
        if name not in ok:
            raise _cms(sim, 302)
    s.mem1 = names[0]
    if len(names) > 1:
        s.mem2 = names[1]
    if len(names) > 2:
        s.mem3 = names[2]
    fields = []
    for name in (s.mem1, s.mem2, s.mem3):
        mem = sim.memories[name]
        fields.append(f"{mem.used},{mem.capacity}")
    sim.respond(["+CPMS: " + ",".join(fields)], "OK")
    sim.storage_changed()
    return None


def _cnmi(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        return [sim.profile.cnmi_test]
    if cmd.kind == "read":
        return ["+CNMI: " + ",".join(str(v) for v in sim.settings.cnmi)]
    if cmd.kind != "set":
        raise _cms(sim, 302)
    values = _ints(sim, cmd.args)
    if len(values) > 5:
        raise _cms(sim, 303)
    new = list(sim.settings.cnmi)
    for i, value in enumerate(values):
        if value not in sim.profile.cnmi_ranges[i]:
            raise _cms(sim, 303)
        new[i] = value
    sim.settings.cnmi = new
    return []


def _csca(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        toa = 145 if sim.smsc.startswith("+") else 129
        return [f'+CSCA: "{sim.smsc}",{toa}']
    if cmd.kind == "test":
        return []
    numbers = _QUOTED.findall(cmd.args)
    if len(numbers) != 1:
        raise _cms(sim, 304)
    sim.smsc = numbers[0]
    return []


# ---------------------------------------------------------------- network


def _csq(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        return ["+CSQ: (0-31,99),(0-7,99)"]
    csq = sim.csq if sim.cfun == 1 else 99
    return [f"+CSQ: {csq},99"]


def _registration(attr: str) -> Handler:
    def handler(sim: SimulatedModem, cmd: Command) -> Reply:
        if cmd.kind == "test":
            return [f"{cmd.name}: (0-2)"]
        if cmd.kind == "read":
            n = getattr(sim.settings, attr)
            return [f"{cmd.name}: {sim.registration_fields(cmd.name, n, urc=False)}"]
        if cmd.kind != "set":
            raise _cme(sim, 50)
        setattr(sim.settings, attr, _one_int(sim, cmd.args, (0, 1, 2)))
        return []

    return handler


def _cops(sim: SimulatedModem, cmd: Command) -> Reply:
    numeric = "00101"
    if cmd.kind == "test":
        return [f'+COPS: (2,"{sim.operator}","{sim.operator}","{numeric}",{sim.act}),,(0-4),(0-2)']
    if cmd.kind == "read":
        if sim.cfun != 1 or sim.registration not in (1, 5):
            return ["+COPS: 0"]
        fmt = sim.settings.cops_format
        name = numeric if fmt == 2 else sim.operator
        return [f'+COPS: 0,{fmt},"{name}",{sim.act}']
    values = cmd.args.split(",")
    try:
        mode = int(values[0])
    except ValueError:
        raise _cme(sim, 50) from None
    if mode == 3 and len(values) > 1:
        sim.settings.cops_format = _one_int(sim, values[1], (0, 1, 2))
    elif mode not in (0, 1, 2, 4):
        raise _cme(sim, 50)
    return []


def _cfun(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        return [f"+CFUN: {sim.cfun}"]
    if cmd.kind == "test":
        return ["+CFUN: (0,1,4),(0-1)"]
    values = _ints(sim, cmd.args)
    fun = values[0]
    if fun not in (0, 1, 4) or len(values) > 2:
        raise _cme(sim, 50)
    if len(values) == 2 and values[1] == 1:
        sim.respond((), "OK")
        sim.reset()
        return None
    sim.cfun = 1 if fun == 1 else 0
    sim.respond((), "OK")
    if fun == 1:
        for urc in sim.profile.cfun_urcs:
            sim.urc(urc)
        sim.busy_for(sim.profile.busy_after_cfun)
        sim.storage_changed()
    return None


def _cusd(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "read":
        return ["+CUSD: 1"]
    if cmd.kind == "test":
        return ["+CUSD: (0-2)"]
    values = cmd.args.split(",")
    try:
        n = int(values[0])
    except ValueError:
        raise _cme(sim, 50) from None
    if n == 2 or len(values) < 2:
        return []
    if sim.cfun != 1 or sim.registration not in (1, 5):
        raise _cme(sim, 30)
    text = sim.ussd_reply
    body = pack_ussd(text) if sim.profile.ussd_packed else text
    line = f'+CUSD: {sim.ussd_status},"{body}",15'
    sim.respond((), "OK")
    sim.later(sim.ussd_delay, sim.urc, line)
    return None


def _curc(sim: SimulatedModem, cmd: Command) -> Reply:
    if not sim.profile.noise_urcs:
        raise _unknown(sim)
    if cmd.kind == "read":
        return [f"^CURC: {int(sim.settings.curc)}"]
    if cmd.kind == "test":
        return ["^CURC: (0-1)"]
    sim.settings.curc = _one_int(sim, cmd.args, (0, 1)) == 1
    return []


# ---------------------------------------------------------------- messages


def _pdu_mode(sim: SimulatedModem) -> None:
    if sim.settings.cmgf != 0:
        raise _cms(sim, 302)


def _cmgs(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        return []
    _pdu_mode(sim)
    if cmd.kind != "set":
        raise _cms(sim, 304)
    try:
        length = int(cmd.args)
    except ValueError:
        raise _cms(sim, 304) from None
    if not 7 <= length <= MAX_CMGS_LENGTH:
        raise _cms(sim, 304)
    sim.start_cmgs(length)
    return None


def _index(sim: SimulatedModem, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _cms(sim, 321) from None


def _cmgl(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        return ["+CMGL: (0-4)"]
    _pdu_mode(sim)
    stat = ALL if cmd.kind == "exec" else _index(sim, cmd.args)
    if stat not in range(5):
        raise _cms(sim, 302)
    lines: list[str] = []
    for index, sms in sim.memories[sim.settings.mem1].listing(stat):
        lines.append(f"+CMGL: {index},{sms.stat},,{sms.tpdu_length}")
        lines.append(sms.pdu_hex)
        if sms.stat == REC_UNREAD:
            sms.stat = REC_READ
    return lines


def _cmgr(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        return []
    _pdu_mode(sim)
    memory = sim.memories[sim.settings.mem1]
    index = _index(sim, cmd.args)
    if not memory.valid(index):
        raise _cms(sim, 321)
    sms = memory.get(index)
    if sms is None:
        if sim.profile.empty_read_error is not None:
            raise _cms(sim, sim.profile.empty_read_error)
        return []
    stat = sms.stat
    if sms.stat == REC_UNREAD:
        sms.stat = REC_READ
    return [f"+CMGR: {stat},,{sms.tpdu_length}", sms.pdu_hex]


def _cmgd(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        memory = sim.memories[sim.settings.mem1]
        used = ",".join(str(i) for i, _ in memory.listing(ALL))
        return [f"+CMGD: ({used}),(0-4)"]
    memory = sim.memories[sim.settings.mem1]
    parts = cmd.args.split(",")
    index = _index(sim, parts[0]) if parts[0].strip() else memory.base
    flag = _index(sim, parts[1]) if len(parts) > 1 else 0
    if flag not in range(5):
        raise _cms(sim, 302)
    if flag == 0:
        if not memory.valid(index):
            raise _cms(sim, 321)
        memory.delete(index)
    else:
        memory.delete_flagged(flag)
    sim.respond((), "OK")
    sim.storage_changed()  # held messages arrive after the answer, as +CMTI
    return None


def _cnma(sim: SimulatedModem, cmd: Command) -> Reply:
    if cmd.kind == "test":
        return ["+CNMA: (0-2)"]
    if not sim.take_ack():
        raise _cms(sim, 340)
    return []


HANDLERS: Final[dict[str, Handler]] = {
    "": _at,
    "E": _echo,
    "Z": _atz,
    "I": _ati,
    "+CMEE": _cmee,
    "+CGMI": _value(lambda s: s.profile.manufacturer),
    "+GMI": _value(lambda s: s.profile.manufacturer),
    "+CGMM": _value(lambda s: s.profile.model),
    "+GMM": _value(lambda s: s.profile.model),
    "+CGMR": _value(lambda s: s.profile.revision),
    "+GMR": _value(lambda s: s.profile.revision),
    "+CGSN": _value(lambda s: s.imei),
    "+GSN": _value(lambda s: s.imei),
    "+CIMI": _value(lambda s: s.imsi),
    "+CNUM": _cnum,
    "+CPIN": _cpin,
    "+CMGF": _cmgf,
    "+CSCS": _cscs,
    "+CSMS": _csms,
    "+CPMS": _cpms,
    "+CNMI": _cnmi,
    "+CSCA": _csca,
    "+CSQ": _csq,
    "+CREG": _registration("creg_n"),
    "+CGREG": _registration("cgreg_n"),
    "+CEREG": _registration("cereg_n"),
    "+COPS": _cops,
    "+CFUN": _cfun,
    "+CUSD": _cusd,
    "^CURC": _curc,
    "+CMGS": _cmgs,
    "+CMGL": _cmgl,
    "+CMGR": _cmgr,
    "+CMGD": _cmgd,
    "+CNMA": _cnma,
}

__all__ = ["HANDLERS", "AtFinal", "Command", "dispatch", "error_final", "parse"]
