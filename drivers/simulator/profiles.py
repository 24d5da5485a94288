"""Vendor profiles of the simulated modem: data, plus a few named behaviour switches.

Each profile copies what the real family is known to do (boot banner, capability
ranges, identity commands, error dialect); the interpreter reads these fields
instead of branching on the profile name.

The names come from the driver's table (``drivers.quirks.PROFILE_NAMES``): every driver
profile has a simulated family of the same name (checked at import), and variants of a
family (``simcom7600``) name the driver profile that drives them in ``driver``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.quirks import PROFILE_NAMES


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    driver: str  # the drivers.quirks profile that drives this family
    manufacturer: str
    model: str
    revision: str
    boot_urcs: tuple[str, ...]  # emitted once after boot_delay, in order
    pin_boot_urcs: tuple[str, ...]  # emitted once the PIN is accepted (boot with a SIM PIN)
    memories: tuple[str, ...]  # AT+CPMS=? lists, and the memories that exist
    default_memory: str  # mem1/mem2/mem3 after boot
    report_memory: str  # where +CDSI status reports are stored
    cnmi_ranges: tuple[tuple[int, ...], ...]  # allowed <mode>,<mt>,<bm>,<ds>,<bfr>
    cnmi_test: str  # the AT+CNMI=? answer, as the family prints it
    default_cnmi: tuple[int, int, int, int, int]
    iccid_commands: tuple[str, ...]  # command names answering the ICCID
    iccid_prefix: str  # "+CCID: ", "+QCCID: ", "^ICCID: ", ...
    unknown_final: str = "ERROR"  # final result for unknown commands
    index_base: int = 1  # first storage index (Huawei counts from 0)
    default_cmee: int = 0
    default_act: int = 7  # AcT in +CREG/+COPS: 0 GSM, 2 UTRAN, 7 E-UTRAN
    creg_hex_unquoted: bool = False  # Huawei prints LAC/CI without quotes
    creg_act: bool = True  # +CREG: 2,... carries the AcT field (SIM800 does not)
    ussd_packed: bool = False  # USSD strings travel as packed 7-bit hex (Huawei)
    noise_urcs: tuple[str, ...] = ()  # periodic URCs until AT^CURC=0
    empty_read_error: int | None = None  # +CMS ERROR for CMGR of an empty slot (None: OK)
    extra_ok: frozenset[str] = field(default_factory=frozenset)  # vendor commands just OK'd
    cpin_no_ok: bool = False  # AT+CPIN? answers +CPIN: <code> with no OK after it (Wavecom)
    cpms_test: str | None = None  # the AT+CPMS=? answer when the family prints its own
    cpms_max_params: int = 3  # memories AT+CPMS=<m1>[,<m2>[,<m3>]] accepts
    busy_after_cfun: int = 0  # commands answered +CME ERROR: 515 after AT+CFUN=1
    cfun_urcs: tuple[str, ...] = ()  # emitted after AT+CFUN=1 is answered


_FULL_CNMI = ((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1))

GENERIC = Profile(
    name="generic",
    driver="generic",
    manufacturer="SimModem",
    model="SM-1",
    revision="SM1.0.0",
    boot_urcs=("RDY", "+CPIN: READY", "SMS DONE"),
    pin_boot_urcs=("+CPIN: READY", "SMS DONE"),
    memories=("ME", "SM", "SR"),
    default_memory="ME",
    report_memory="SR",
    cnmi_ranges=_FULL_CNMI,
    cnmi_test="+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)",
    default_cnmi=(0, 0, 0, 0, 0),
    iccid_commands=("+CCID", "+ICCID"),
    iccid_prefix="+CCID: ",
    default_cmee=1,
)

SIMCOM = Profile(
    name="simcom",
    driver="simcom",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800L",
    revision="Revision:1418B05SIM800L24",
    boot_urcs=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
    pin_boot_urcs=("+CPIN: READY", "Call Ready", "SMS Ready"),
    memories=("SM", "ME"),
    default_memory="SM",
    report_memory="SM",
    # SIM800: no <ds>=2, so status reports can only be routed as +CDS.
    cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1), (0, 1)),
    cnmi_test="+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)",
    default_cnmi=(1, 1, 0, 0, 0),
    iccid_commands=("+CCID", "+ICCID"),
    iccid_prefix="",
    default_act=0,
    creg_act=False,
    extra_ok=frozenset({"+CSCLK", "+CLTS", "+DDET"}),
)

SIMCOM7600 = Profile(
    name="simcom7600",
    driver="simcom",
    manufacturer="SIMCOM INCORPORATED",
    model="SIMCOM_SIM7600E-H",
    revision="LE20B04SIM7600M22",
    boot_urcs=("RDY", "+CPIN: READY", "SMS DONE", "PB DONE"),
    pin_boot_urcs=("+CPIN: READY", "SMS DONE", "PB DONE"),
    memories=("ME", "MT", "SM", "SR"),
    default_memory="ME",
    report_memory="SR",
    cnmi_ranges=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
    cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0-1)",
    default_cnmi=(2, 1, 0, 0, 0),
    iccid_commands=("+CICCID", "+CCID", "+ICCID"),
    iccid_prefix="+ICCID: ",
    extra_ok=frozenset({"+CSCLK"}),
)

QUECTEL = Profile(
    name="quectel",
    driver="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    boot_urcs=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
    pin_boot_urcs=("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
    memories=("SM", "ME", "MT", "SR"),
    default_memory="ME",
    report_memory="SR",
    cnmi_ranges=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
    cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
    default_cnmi=(2, 1, 0, 0, 0),
    iccid_commands=("+QCCID", "+CCID"),
    iccid_prefix="+QCCID: ",
    default_cmee=1,
    extra_ok=frozenset({"+QURCCFG", "+QINDCFG", "+QSCLK"}),
)

HUAWEI = Profile(
    name="huawei",
    driver="huawei",
    manufacturer="huawei",
    model="E3372",
    revision="21.180.01.00.00",
    boot_urcs=("^BOOT:12345678,0,0,0,75", "^RSSI:20", "^MODE:5,4"),
    pin_boot_urcs=("^SIMST:1",),
    memories=("SM", "ME", "SR"),
    default_memory="SM",
    report_memory="SR",
    cnmi_ranges=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
    cnmi_test="+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)",
    default_cnmi=(0, 0, 0, 0, 0),
    iccid_commands=("^ICCID",),
    iccid_prefix="^ICCID: ",
    unknown_final="COMMAND NOT SUPPORT",
    index_base=0,
    creg_hex_unquoted=True,
    ussd_packed=True,
    noise_urcs=("^RSSI:{csq}", "^MODE:5,4", "^BOOT:12345678,0,0,0,75"),
    empty_read_error=321,
    extra_ok=frozenset({"^USSDMODE", "^SYSCFG", "^SETPORT", "^U2DIAG"}),
)

WAVECOM = Profile(
    name="wavecom",
    driver="wavecom",
    manufacturer=" WAVECOM MODEM",  # leading spaces as the firmware prints them
    model=" MULTIBAND  900E  1800",
    revision=" 651b09gg.Q2406B",
    boot_urcs=("+WIND: 3", "+WIND: 1", "+WIND: 7", "+WIND: 4"),
    pin_boot_urcs=("+WIND: 1", "+WIND: 4"),
    memories=("SM", "SR"),  # messages live on the SIM only
    default_memory="SM",
    report_memory="SR",
    cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
    cnmi_test="+CNMI: (0,1,2,3),(0,1,2,3),(0,2),(0,1,2),(0,1)",
    default_cnmi=(0, 0, 0, 0, 0),
    iccid_commands=("+CCID",),
    iccid_prefix="CCID: ",
    default_act=0,
    creg_act=False,
    extra_ok=frozenset({"+WIND", "+WOPEN"}),
    cpin_no_ok=True,
    cpms_test='+CPMS: (("SM","BM","SR"),("SM"))',
    cpms_max_params=2,
    busy_after_cfun=2,
    cfun_urcs=("+WIND: 4",),
)

# Families first, in the driver's order; then variants.
_MODELS: tuple[Profile, ...] = (GENERIC, SIMCOM, QUECTEL, HUAWEI, WAVECOM, SIMCOM7600)
PROFILE_TABLE: dict[str, Profile] = {p.name: p for p in _MODELS}
PROFILES: tuple[str, ...] = tuple(PROFILE_TABLE)

_missing = set(PROFILE_NAMES) - set(PROFILE_TABLE)
_unknown = {p.name for p in _MODELS if p.driver not in PROFILE_NAMES}
if _missing or _unknown:  # pragma: no cover - a table edit that forgot its other half
    raise RuntimeError(
        f"simulator profiles out of step with drivers.quirks: {_missing or _unknown}"
    )


def get_profile(name: str) -> Profile:
    try:
        return PROFILE_TABLE[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown simulator profile {name!r}; known: {known}") from None
