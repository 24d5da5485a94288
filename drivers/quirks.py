"""Vendor profiles: what differs between modem families, as data plus a few small hooks.

One frozen ``VendorProfile`` per family, not a subclass per model: the modem layer reads
these fields instead of branching on names. Sources: modem-protocol.md §3.2, §3.3, §5.
All timeouts in seconds.

``VENDOR_PROFILES`` is the one table of profile names: settings, "auto" detection, the
simulator's families and the gateway's configuration all derive from it, so adding a
profile means adding one entry here (and its simulated family).
"""

from __future__ import annotations

from dataclasses import dataclass

CnmiSetting = tuple[int, int, int, int, int]  # <mode>,<mt>,<bm>,<ds>,<bfr>

# Store-and-index first (+CMTI/+CDSI survive a crash, no ack deadline); routed status
# reports (+CDS, acked with AT+CNMA under CSMS service 1) when <ds>=2 is missing (SIM800).
CNMI_PREFERENCE: tuple[CnmiSetting, ...] = (
    (2, 1, 0, 2, 0),
    (2, 1, 0, 1, 0),
    (1, 1, 0, 2, 0),
    (1, 1, 0, 1, 0),
    (2, 1, 0, 0, 0),
    (1, 1, 0, 0, 0),
)


@dataclass(frozen=True, slots=True)
class VendorProfile:
    name: str
    cmgs_timeout: float  # max wait for +CMGS after the PDU (vendor manuals)
    prompt_timeout: float = 5.0  # wait for "> " after AT+CMGS=<n>
    boot_lines: frozenset[str] = frozenset({"SMS Ready", "SMS DONE", "+QIND: SMS DONE"})
    init_extra: tuple[str, ...] = ()  # vendor commands after the standard init
    iccid_commands: tuple[str, ...] = ("AT+CCID", "AT+ICCID")
    cnmi_preference: tuple[CnmiSetting, ...] = CNMI_PREFERENCE
    storage_preference: tuple[str, ...] = ("ME", "SM")
    # Regexes of extra error finals (whole line); Motorola's by default (gammu at.c).
    error_finals: tuple[str, ...] = (r"MODEM ERROR:.*",)
    # Prefixes of information lines that end the answer to the command asking for them:
    # the firmware sends no OK after them (Wavecom, Sierra: "+CPIN: READY" alone).
    info_finals: tuple[str, ...] = ()
    # Sent right after echo/error setup, before the SIM check (after identification).
    init_first: tuple[str, ...] = ()
    # Lowest storage index an indication may name. 0 is legal on many firmwares (Huawei,
    # Qualcomm/ZTE), and reading an unused slot only answers +CMS ERROR: 321.
    location_base: int = 0
    reset_command: str = "AT+CFUN=1,1"
    reset_reenumerates: bool = True  # the port vanishes on reset (USB re-enumeration)
    ussd_packed: bool = False  # USSD replies come as packed GSM 7-bit hex (Huawei)
    manufacturer_marks: tuple[str, ...] = ()  # lower-case substrings of AT+CGMI for "auto"

    def valid_index(self, index: int) -> bool:
        return index >= self.location_base

    @property
    def cpin_no_ok(self) -> bool:
        return "+CPIN:" in self.info_finals

    def info_final(self, expected: tuple[str, ...]) -> str | None:
        """The prefix that ends an answer expected to start with one of ``expected``."""
        for prefix in self.info_finals:
            if prefix in expected:
                return prefix
        return None


GENERIC = VendorProfile(name="generic", cmgs_timeout=120.0)

SIMCOM = VendorProfile(
    name="simcom",
    cmgs_timeout=60.0,  # SIM800 manual: max response time 60 s
    boot_lines=frozenset({"SMS Ready", "SMS DONE"}),
    iccid_commands=("AT+CCID", "AT+CICCID", "AT+ICCID"),
    storage_preference=("ME", "SM"),
    location_base=1,  # SIM800 slots are numbered from 1
    manufacturer_marks=("simcom",),
)

QUECTEL = VendorProfile(
    name="quectel",
    cmgs_timeout=120.0,  # EC25 manual: 120 s, determined by network
    boot_lines=frozenset({"+QIND: SMS DONE", "SMS DONE"}),
    iccid_commands=("AT+QCCID", "AT+CCID"),
    manufacturer_marks=("quectel",),
)

HUAWEI = VendorProfile(
    name="huawei",
    cmgs_timeout=60.0,
    boot_lines=frozenset(),  # no SMS-ready banner; poll AT instead
    init_extra=("AT^CURC=0",),  # silence ^RSSI/^BOOT/^MODE noise (Gammu F_HUAWEI_INIT)
    iccid_commands=("AT^ICCID?", "AT+CCID"),
    storage_preference=("SM", "ME"),
    location_base=0,
    ussd_packed=True,
    manufacturer_marks=("huawei",),
)

WAVECOM = VendorProfile(
    name="wavecom",  # also Sierra Q24xx modules, which kept the Wavecom firmware
    cmgs_timeout=60.0,
    boot_lines=frozenset(),  # +WIND: 4 only when AT+WIND enables it: poll AT instead
    init_first=("AT+CFUN=1",),  # radio on; answers +CME ERROR: 515 for a moment after
    iccid_commands=("AT+CCID",),
    storage_preference=("SM",),  # the SIM is the only message store
    info_finals=("+CPIN:",),
    location_base=1,
    manufacturer_marks=("wavecom",),
)

# The one table of vendor profiles; "generic" first (the fallback), then by family.
VENDOR_PROFILES: tuple[VendorProfile, ...] = (GENERIC, SIMCOM, QUECTEL, HUAWEI, WAVECOM)
PROFILES: dict[str, VendorProfile] = {p.name: p for p in VENDOR_PROFILES}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
AUTO = "auto"
SETTING_NAMES: tuple[str, ...] = (AUTO, *PROFILE_NAMES)  # what ModemSettings.profile accepts


def get_profile(name: str) -> VendorProfile:
    """The profile for a settings name; "auto" starts as generic until identity is known."""
    if name == AUTO:
        return GENERIC
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(SETTING_NAMES)
        raise ValueError(f"unknown modem profile {name!r}; known: {known}") from None


def detect_profile(manufacturer: str | None, model: str | None) -> VendorProfile:
    """Pick a family from AT+CGMI/AT+CGMM answers (free text, any case)."""
    text = f"{manufacturer or ''} {model or ''}".lower()
    for profile in PROFILES.values():
        if any(mark in text for mark in profile.manufacturer_marks):
            return profile
    return GENERIC
