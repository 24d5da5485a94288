"""The daemon's configuration: one TOML file read into frozen dataclasses.

Validation is strict because a typo in a clinic's config should stop the daemon
at start with a message that names the key, not leave a setting silently at its
default. Every error is a ``ConfigError`` whose ``field`` is the dotted path of
the bad key (``modems[1].rate.per_minute``; list indexes count from 0).

Units: all durations are in seconds. Relative paths are resolved against the
directory of the config file, so a config can be moved with its data.
``config/smsgw.example.toml`` documents every key with its default.

This module is a leaf: it imports only ``gateway.errors`` and the standard
library, so reading a config (the CLI's ``check``, tests) loads nothing else, and
the packages that act on a setting import its type from here, never the reverse.
"""

from __future__ import annotations

import difflib
import enum
import glob
import ipaddress
import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from drivers.quirks import PROFILE_NAMES, SETTING_NAMES
from gateway.errors import ConfigError, ValidationError

# One table in the driver names every vendor profile; each has a simulated modem too.
MODEM_PROFILES: Final = SETTING_NAMES  # "auto" asks the modem (AT+CGMI/CGMM)
SIMULATOR_PROFILES: Final = PROFILE_NAMES
NATIONAL_LANGUAGES: Final = ("es", "pt", "tr")  # the tables drivers.pdu implements
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMATS: Final = ("text", "json")
DEFAULT_KEY_FILE_NAME: Final = "smsgw.key"
DATABASE_FILE_NAME: Final = "smsgw.db"

_NAME_RE: Final = re.compile(r"[a-z0-9_-]{1,32}")
_PREFIX_RE: Final = re.compile(r"\+[0-9]{1,15}")
_SMSC_RE: Final = re.compile(r"\+?[0-9]{3,20}")
_OWN_NUMBER_RE: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_PIN_RE: Final = re.compile(r"[0-9]{4,8}")
_COUNTRY_RE: Final = re.compile(r"[1-9][0-9]{0,2}")
_USSD_RE: Final = re.compile(r"[0-9*#+]{1,64}")
_IMEI_RE: Final = re.compile(r"[0-9]{15}")
# A glob port's devices are named "<name>-<suffix>" (gateway.fleet.discovery): the 8-character
# hash suffix, when the serial number does not fit, must fit the 32 of any modem name.
FAMILY_NAME_MAX: Final = 23
BALANCE_MIN_INTERVAL: Final = 300.0  # seconds: operators throttle (and some charge) USSD

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST_LABEL: Final = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME_RE: Final = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*")

WEBHOOK_FORMATS: Final = ("smsgw", "twilio")
WEBHOOK_URL_MAX_CHARS: Final = 2048
WEBHOOK_SECRET_MIN_CHARS: Final = 16
_WEBHOOK_KEYS: Final = frozenset(
    {"name", "url", "events", "secret", "secret_file", "format", "account_sid", "max_attempts"}
)


class EventKind(enum.StrEnum):
    """What a webhook subscriber can ask for (``[[webhooks]] events``, ``POST /v1/webhooks``)."""

    MESSAGE_SENT = "message.sent"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_EXPIRED = "message.expired"
    MESSAGE_CANCELLED = "message.cancelled"
    MESSAGE_UNKNOWN = "message.unknown"  # handed to a modem, answer lost: it may have gone out
    MESSAGE_SUPPRESSED = "message.suppressed"  # the patient opted out before it was sent
    INBOUND_RECEIVED = "inbound.received"
    MODEM_DOWN = "modem.down"
    MODEM_UP = "modem.up"
    CONSENT_OPTED_OUT = "consent.opted_out"
    CONSENT_OPTED_IN = "consent.opted_in"
    REPLY_MATCHED = "reply.matched"  # a patient's text answered a message's expected replies
    SECURE_READ = "secure.read"  # a patient verified and read a secure message (first time)
    SECURE_ANSWERED = "secure.answered"  # a patient answered on a secure message's page
    SECURE_LOCKED = "secure.locked"  # wrong answers locked a secure message


ALL_KINDS: Final = frozenset(EventKind)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The HTTP API's listener and request limits, as the service hands them to the app."""

    max_body_bytes: int = 1_048_576
    max_batch: int = 1000
    max_segments: int = 10
    failed_auth_limit: int = 10  # failed authentications from one address per window
    failed_auth_window: float = 60.0


@dataclass(frozen=True, slots=True)
class PublicListenerConfig:
    """``[server.public]``: the second listener, for the patient's secure-message pages
    only (reached from the internet through the clinic's reverse proxy)."""

    host: str = "127.0.0.1"
    port: int = 8443  # 0 lets the OS pick (tests)
    public_url: str | None = None  # the links' base; None: [server] public_url


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``[server]``: the HTTP API listener and the limits it applies to requests."""

    host: str = "127.0.0.1"
    port: int = 8080  # 0 lets the OS pick (tests)
    tls_cert: Path | None = None  # both or neither; required to listen beyond loopback safely
    tls_key: Path | None = None
    default_country: str = "1"  # calling code used to normalise national numbers
    max_body_bytes: int = 1_048_576
    max_batch: int = 1000
    max_segments: int = 10  # longer texts are refused, not truncated
    public_url: str | None = None  # how clients reach us (links in webhooks, status page)
    # Hosts that per-request callbacks and API-made webhooks may name (parse_callback_host;
    # matched by gateway.webhooks.hosts); empty: none may. Entries: host names, "*."
    # wildcards, IP addresses, CIDR blocks.
    callback_hosts: tuple[str, ...] = ()
    # Plain HTTP on a non-loopback address: refused unless this says so (then a warning).
    allow_plain_http: bool = False
    # Seconds a connection may take to send a request's line and headers (from connect,
    # or from the previous answer on a kept-alive one); also the TLS handshake's bound.
    header_timeout: float = 10.0
    body_timeout: float = 30.0  # seconds to receive a request's whole body
    max_connections: int = 512  # open connections; more are answered 503 and closed
    public: PublicListenerConfig | None = None  # None: no secure-message pages served

    @property
    def loopback(self) -> bool:
        """Whether only this host can connect (plain HTTP is refused when not, see _server)."""
        return is_loopback_host(self.host)

    def api_settings(self) -> ApiSettings:
        return ApiSettings(
            max_body_bytes=self.max_body_bytes,
            max_batch=self.max_batch,
            max_segments=self.max_segments,
        )


def is_loopback_host(host: str) -> bool:
    """Whether a listen address reaches only this host (a host name other than localhost
    may resolve to anything, so it counts as not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """``[store]``: where the encrypted queue lives and how long it keeps things."""

    data_dir: Path
    key_file: Path  # default <data_dir>/smsgw.key
    durable: bool = True  # fsync each commit; False trades crash safety for speed
    retention_days: int = 90  # final messages and inbound older than this are purged; 0 = keep

    @property
    def database(self) -> Path:
        """The SQLite file: always ``<data_dir>/smsgw.db``, so backups know where to look."""
        return self.data_dir / DATABASE_FILE_NAME


@dataclass(frozen=True, slots=True)
class RateConfig:
    """``[modems.rate]``: per-modem send limits (carriers block SIMs that send too fast)."""

    per_minute: int = 10  # 0 = unlimited
    per_hour: int = 0  # 0 = unlimited
    per_day: int = 0  # 0 = unlimited
    jitter_seconds: float = 0.0  # random extra spacing between sends, 0..jitter_seconds


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """``[modems.simulator]``: timing of a built-in simulated modem (demo and tests)."""

    radio_time: float = 0.5  # seconds between AT+CMGS and its +CMGS answer
    report_delay: float = 2.0  # seconds from +CMGS to the status report (+CDS)
    report_status: int = 0  # TP-ST of the status report: 0 delivered, 64+ permanent failure


@dataclass(frozen=True, slots=True)
class BalanceConfig:
    """``[modems.balance]``: a scheduled USSD check of the prepaid SIM's credit."""

    ussd: str  # the operator's balance code, e.g. "*100#"
    interval: float = 86400.0  # seconds between checks (at least BALANCE_MIN_INTERVAL)
    pattern: str | None = None  # regex with one group around the amount; None: built-in parser


@dataclass(frozen=True, slots=True)
class ModemConfig:
    """``[[modems]]``: one modem, by a stable name used in metrics, logs and the store."""

    name: str
    port: str | None = None  # device path, by-id glob, or pyserial URL; exclusive with simulate
    simulate: str | None = None  # simulator profile; exclusive with port
    profile: str = "auto"  # vendor quirk profile; "auto" asks the modem (AT+CGMI)
    pin: str | None = field(default=None, repr=False)
    pin_file: Path | None = None  # file holding the PIN; exclusive with pin
    smsc: str | None = None  # service centre number, when the SIM lacks a correct one
    tags: tuple[str, ...] = ()  # groups for routing
    enabled: bool = True
    cmgs_timeout: float | None = None  # seconds; None = the driver's default for the profile
    command_timeout: float = 10.0  # seconds for any other AT command; misses count toward a reset
    rate: RateConfig = field(default_factory=RateConfig)
    simulator: SimulatorConfig | None = None  # set (defaults filled) when simulate is set
    balance: BalanceConfig | None = None  # scheduled USSD balance check; None: none
    imei: str | None = None  # expected IMEI; another one answering is kept out of rotation
    number: str | None = None  # the SIM's own number (E.164), when AT+CNUM does not give it

    @property
    def is_family(self) -> bool:
        """A glob ``port``: each matching device is its own modem (gateway.fleet.discovery)."""
        return self.port is not None and is_port_pattern(self.port)

    def read_pin(self) -> str | None:
        """The SIM PIN from ``pin`` or ``pin_file``, read late so it is not kept in memory."""
        if self.pin is not None:
            return self.pin
        if self.pin_file is None:
            return None
        try:
            text = self.pin_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read pin_file {self.pin_file}: {exc.strerror}", field="pin_file"
            ) from exc
        if not _PIN_RE.fullmatch(text):
            raise ConfigError(f"pin_file {self.pin_file} must hold 4-8 digits", field="pin_file")
        return text


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """``[[routes]]``: which modems may send a message; first match wins."""

    name: str
    prefixes: tuple[str, ...] = ()  # E.164 prefixes ("+1", "+4420"); empty = any number
    tags: tuple[str, ...] = ()  # modems having any of these tags
    modems: tuple[str, ...] = ()  # or these modems by name; neither = every modem
    sticky: bool = True  # reply from the modem the patient last wrote to, when it is up
    fallback: bool = True  # use any modem when none of the route's modems is up
    # 3GPP TS 23.038 national language tables ("es", "pt", "tr") for texts the default
    # alphabet cannot hold: opt-in, since not every handset honours them.
    national_language: str | None = None

    def matches(self, number: str) -> bool:
        return not self.prefixes or any(number.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """``[retry]``: what happens after a failed attempt (temporary errors only)."""

    max_attempts: int = 5
    backoff_initial: float = 30.0  # seconds before the second attempt; doubles each time
    backoff_max: float = 900.0  # cap of the backoff, seconds
    max_modem_switches: int = 2  # how often a message may move to another modem
    resend_unknown: bool = False  # after a crash mid-send: True resends (may duplicate)


@dataclass(frozen=True, slots=True)
class InboundConfig:
    """``[inbound]``: assembling long inbound texts from their parts."""

    reassembly_timeout: float = 600.0  # seconds; then the parts received are released as is


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """``[logging]``."""

    level: str = "info"
    format: str = "text"  # "text" for people, "json" (one object per line) for collectors


@dataclass(frozen=True, slots=True)
class ClientsConfig:
    """``[clients]``: limits on clients as a whole (each key's own are set with
    ``smsgw keys``)."""

    failed_auth_limit: int = 10  # failed authentications one address may make per window
    failed_auth_window: float = 60.0  # seconds; the address is refused until it ends


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``[[webhooks]]`` table: a subscriber fixed for the life of the process."""

    name: str
    url: str
    events: tuple[EventKind, ...]
    secret: str = field(repr=False)
    format: str = "smsgw"  # one of WEBHOOK_FORMATS
    account_sid: str | None = None  # the AccountSid a ``twilio`` subscriber expects
    max_attempts: int | None = None  # None: the delivery's default


DEFAULT_STOP_TEXT: Final = (
    "{clinic}: you will get no more texts from us. Reply START to get them again."
)
DEFAULT_STOP_CATEGORY_TEXT: Final = (
    "{clinic}: you will get no more {category} texts from us. Reply START to get them again."
)
DEFAULT_START_TEXT: Final = "{clinic}: you will get our texts again. Reply STOP to stop them."
DEFAULT_HELP_TEXT: Final = (
    "{clinic}: reply STOP to stop our texts, START to get them again. "
    "For anything else, please call the clinic."
)


@dataclass(frozen=True, slots=True)
class ConsentConfig:
    """``[consent]``: keywords beyond the built-in English ones, and the confirmations.

    Texts may name ``{clinic}`` and (the per-category stop) ``{category}``."""

    stop_keywords: tuple[str, ...] = ()  # e.g. ("ALTO", "PARAR", "BAJA")
    start_keywords: tuple[str, ...] = ()
    help_keywords: tuple[str, ...] = ()
    stop_text: str = DEFAULT_STOP_TEXT
    stop_category_text: str = DEFAULT_STOP_CATEGORY_TEXT
    start_text: str = DEFAULT_START_TEXT
    help_text: str = DEFAULT_HELP_TEXT


@dataclass(frozen=True, slots=True)
class RepliesConfig:
    """``[replies]``: what the gateway texts back when a patient answers a message that
    declared ``replies``. Texts may name ``{clinic}``; ``unmatched_text`` also ``{choices}``
    (the message's keys: "C or R")."""

    follow_ups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    unmatched_text: str | None = None  # None: an answer that matches nothing gets no nudge


@dataclass(frozen=True, slots=True)
class Config:
    path: Path  # the file this was loaded from (absolute)
    server: ServerConfig
    store: StoreConfig
    modems: tuple[ModemConfig, ...]
    routes: tuple[RouteConfig, ...] = ()
    retry: RetryConfig = field(default_factory=RetryConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    webhooks: tuple[WebhookConfig, ...] = ()
    categories: Mapping[str, CategoryConfig] = field(default_factory=lambda: DEFAULT_CATEGORIES)
    clinic: ClinicConfig = field(default_factory=lambda: ClinicConfig())
    consent: ConsentConfig = field(default_factory=ConsentConfig)
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    replies: RepliesConfig = field(default_factory=RepliesConfig)

    def api_settings(self) -> ApiSettings:
        return replace(
            self.server.api_settings(),
            failed_auth_limit=self.clients.failed_auth_limit,
            failed_auth_window=self.clients.failed_auth_window,
        )

    def honours_opt_out(self, category: str) -> bool:
        """Whether a patient's STOP covers this category (an unknown one: it does)."""
        found = self.categories.get(category)
        return found is None or found.opt_out

    def modem(self, name: str) -> ModemConfig:
        for modem in self.modems:
            if modem.name == name:
                return modem
        raise KeyError(name)


def is_port_pattern(port: str) -> bool:
    """A device glob, as opposed to a plain path or a pyserial URL."""
    return "://" not in port and glob.has_magic(port)


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``; raises ``ConfigError`` naming the first bad key."""
    file = Path(path).expanduser().absolute()
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {file}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    return parse_config(data, base_dir=file.parent, path=file)


def parse_config(data: Mapping[str, Any], *, base_dir: Path, path: Path) -> Config:
    root = _Table(
        data,
        "",
        {
            "server",
            "store",
            "modems",
            "routes",
            "retry",
            "inbound",
            "logging",
            "webhooks",
            "categories",
            "clinic",
            "consent",
            "clients",
            "replies",
        },
        base_dir,
    )
    categories = parse_categories(root.table("categories"))
    clinic = parse_clinic(root.table("clinic"), categories)
    server = _server(root.table("server"))
    store_table = root.table("store", required=True)
    store = _store(store_table)
    modems = tuple(_modem(t) for t in root.tables("modems"))
    if not modems:
        raise ConfigError("modems: at least one [[modems]] table is required", field="modems")
    _check_unique([m.name for m in modems], "modems")
    _check_family_names(modems)
    routes = tuple(_route(t, modems) for t in root.tables("routes"))
    _check_unique([r.name for r in routes], "routes")
    return Config(
        path=path,
        server=server,
        store=store,
        modems=modems,
        routes=routes,
        retry=_retry(root.table("retry")),
        inbound=InboundConfig(
            reassembly_timeout=root.table("inbound", allowed={"reassembly_timeout"}).number(
                "reassembly_timeout", 600.0, minimum=1.0
            )
        ),
        logging=_logging(root.table("logging")),
        webhooks=parse_webhooks(data.get("webhooks"), base_dir=base_dir),
        categories=categories,
        clinic=clinic,
        consent=_consent(root.table("consent")),
        clients=_clients(root.table("clients")),
        replies=_replies(root.table("replies")),
    )


# sections -------------------------------------------------------------------


def _server(t: _Table) -> ServerConfig:
    t.allow(
        "host",
        "port",
        "tls_cert",
        "tls_key",
        "default_country",
        "max_body_bytes",
        "max_batch",
        "max_segments",
        "public_url",
        "callback_hosts",
        "allow_plain_http",
        "header_timeout",
        "body_timeout",
        "max_connections",
        "public",
    )
    host = t.string("host", "127.0.0.1")
    if not host:
        raise t.error("host", "must not be empty")
    tls_cert = t.path("tls_cert", must_exist=True)
    tls_key = t.path("tls_key", must_exist=True)
    if (tls_cert is None) != (tls_key is None):
        missing = "tls_key" if tls_key is None else "tls_cert"
        raise t.error(missing, "tls_cert and tls_key must be set together (both or neither)")
    allow_plain_http = t.boolean("allow_plain_http", False)
    if tls_cert is None and not allow_plain_http and not is_loopback_host(host):
        raise t.error(
            "host",
            f"{host!r} is not loopback: without TLS, message bodies, numbers and API tokens"
            " would cross the network in clear; set tls_cert and tls_key (smsgw init"
            " --self-signed makes a pair), or allow_plain_http = true to accept that",
        )
    country = t.string("default_country", "1")
    if not _COUNTRY_RE.fullmatch(country):
        raise t.error("default_country", f"must be a calling code of 1-3 digits, got {country!r}")
    public_url = t.optional_string("public_url")
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise t.error("public_url", "must start with http:// or https://")
    return ServerConfig(
        host=host,
        port=t.integer("port", 8080, minimum=0, maximum=65535),
        tls_cert=tls_cert,
        tls_key=tls_key,
        default_country=country,
        max_body_bytes=t.integer("max_body_bytes", 1_048_576, minimum=1024),
        max_batch=t.integer("max_batch", 1000, minimum=1),
        max_segments=t.integer("max_segments", 10, minimum=1, maximum=255),
        public_url=public_url.rstrip("/") if public_url else None,
        callback_hosts=_callback_hosts(t),
        allow_plain_http=allow_plain_http,
        header_timeout=_positive(t, "header_timeout", 10.0),
        body_timeout=_positive(t, "body_timeout", 30.0),
        max_connections=t.integer("max_connections", 512, minimum=1),
        public=_public_listener(t, allow_plain_http),
    )


def _public_listener(server: _Table, allow_plain_http: bool) -> PublicListenerConfig | None:
    if "public" not in server.data:
        return None
    t = server.table("public", allowed={"host", "port", "public_url"})
    host = t.string("host", "127.0.0.1")
    if not host:
        raise t.error("host", "must not be empty")
    if not allow_plain_http and not is_loopback_host(host):
        raise t.error(
            "host",
            f"{host!r} is not loopback: serve the pages through a reverse proxy that ends TLS"
            " (see the README), or set [server] allow_plain_http = true to accept that",
        )
    public_url = t.optional_string("public_url")
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise t.error("public_url", "must start with http:// or https://")
    return PublicListenerConfig(
        host=host,
        port=t.integer("port", 8443, minimum=0, maximum=65535),
        public_url=public_url.rstrip("/") if public_url else None,
    )


def _positive(t: _Table, key: str, default: float) -> float:
    value = t.number(key, default, minimum=0.0)
    if value <= 0:
        raise t.error(key, "must be more than 0")
    return value


def _callback_hosts(t: _Table) -> tuple[str, ...]:
    entries = t.string_list("callback_hosts")
    for i, raw in enumerate(entries):
        try:
            parse_callback_host(raw)
        except ValueError as exc:
            raise t.error(f"callback_hosts[{i}]", str(exc)) from None
    return entries


def _store(t: _Table) -> StoreConfig:
    t.allow("data_dir", "key_file", "durable", "retention_days")
    data_dir = t.path("data_dir", required=True)
    assert data_dir is not None
    key_file = t.path("key_file") or data_dir / DEFAULT_KEY_FILE_NAME
    return StoreConfig(
        data_dir=data_dir,
        key_file=key_file,
        durable=t.boolean("durable", True),
        retention_days=t.integer("retention_days", 90, minimum=0),
    )


def _modem(t: _Table) -> ModemConfig:
    t.allow(
        "name",
        "port",
        "simulate",
        "profile",
        "pin",
        "pin_file",
        "smsc",
        "tags",
        "enabled",
        "cmgs_timeout",
        "command_timeout",
        "rate",
        "simulator",
        "balance",
        "imei",
        "number",
    )
    name = t.string("name", required=True)
    _check_label(t, "name", name)
    port = t.optional_string("port")
    if port is not None and is_port_pattern(port) and len(name) > FAMILY_NAME_MAX:
        raise t.error(
            "name",
            f"{name!r}: with a glob port the name is a prefix of each device's name"
            f" and may have at most {FAMILY_NAME_MAX} characters",
        )
    imei = t.optional_string("imei")
    if imei is not None:
        if port is None:
            raise t.error("imei", "only allowed together with port")
        if not _IMEI_RE.fullmatch(imei):
            raise t.error("imei", 'must be the 15 digits of an IMEI (as a string: imei = "35...")')
    simulate = t.optional_string("simulate")
    if (port is None) == (simulate is None):
        raise t.error(
            "port" if port is None else "simulate",
            "set exactly one of port (a device) or simulate (a built-in simulated modem)",
        )
    if port is not None and not (port.startswith("/") or "://" in port):
        raise t.error(
            "port", f"{port!r} must be an absolute device path, a glob, or a URL like socket://h:p"
        )
    if simulate is not None:
        t.choice("simulate", simulate, SIMULATOR_PROFILES)
    simulator: SimulatorConfig | None = None
    if "simulator" in t.data and simulate is None:
        raise t.error("simulator", "only allowed together with simulate")
    if simulate is not None:
        s = t.table("simulator", allowed={"radio_time", "report_delay", "report_status"})
        simulator = SimulatorConfig(
            radio_time=s.number("radio_time", 0.5, minimum=0.0),
            report_delay=s.number("report_delay", 2.0, minimum=0.0),
            report_status=s.integer("report_status", 0, minimum=0, maximum=255),
        )
    profile = t.string("profile", "auto")
    t.choice("profile", profile, MODEM_PROFILES)
    pin = t.optional_string("pin")
    if pin is not None and not _PIN_RE.fullmatch(pin):
        raise t.error("pin", 'must be 4-8 digits (write it as a string: pin = "1234")')
    pin_file = t.path("pin_file", must_exist=True)
    if pin is not None and pin_file is not None:
        raise t.error("pin_file", "set pin or pin_file, not both")
    smsc = t.optional_string("smsc")
    if smsc is not None and not _SMSC_RE.fullmatch(smsc):
        raise t.error("smsc", f"{smsc!r} is not a phone number")
    tags = t.string_list("tags")
    for i, tag in enumerate(tags):
        _check_label(t, f"tags[{i}]", tag)
    r = t.table("rate", allowed={"per_minute", "per_hour", "per_day", "jitter_seconds"})
    return ModemConfig(
        name=name,
        port=port,
        simulate=simulate,
        profile=profile,
        pin=pin,
        pin_file=pin_file,
        smsc=smsc,
        tags=tags,
        enabled=t.boolean("enabled", True),
        cmgs_timeout=t.optional_number("cmgs_timeout", minimum=1.0),
        command_timeout=t.number("command_timeout", 10.0, minimum=0.1),
        rate=RateConfig(
            per_minute=r.integer("per_minute", 10, minimum=0),
            per_hour=r.integer("per_hour", 0, minimum=0),
            per_day=r.integer("per_day", 0, minimum=0),
            jitter_seconds=r.number("jitter_seconds", 0.0, minimum=0.0),
        ),
        simulator=simulator,
        balance=_balance(t) if "balance" in t.data else None,
        imei=imei,
        number=_own_number(t, port),
    )


def _own_number(t: _Table, port: str | None) -> str | None:
    """``number``: the SIM's own number in E.164; one SIM's, so not for a glob family."""
    number = t.optional_string("number")
    if number is None:
        return None
    if port is not None and is_port_pattern(port):
        raise t.error("number", "a glob port is a family of SIMs: their numbers come from AT+CNUM")
    if not _OWN_NUMBER_RE.fullmatch(number):
        raise t.error("number", f'{number!r} must be an E.164 number, e.g. "+15551234567"')
    return number


def _balance(modem: _Table) -> BalanceConfig:
    t = modem.table("balance", allowed={"ussd", "interval", "pattern"})
    ussd = t.string("ussd", required=True)
    if not _USSD_RE.fullmatch(ussd):
        raise t.error("ussd", f"{ussd!r} must be a USSD code of digits, * and # (e.g. *100#)")
    pattern = t.optional_string("pattern")
    if pattern is not None:
        try:
            groups = re.compile(pattern).groups
        except re.error as exc:
            raise t.error("pattern", f"is not a regular expression: {exc}") from None
        if groups != 1:
            raise t.error("pattern", f"must have exactly one group (the amount), has {groups}")
    return BalanceConfig(
        ussd=ussd,
        interval=t.number("interval", 86400.0, minimum=BALANCE_MIN_INTERVAL),
        pattern=pattern,
    )


def _check_label(t: _Table, key: str, value: str) -> None:
    """Names and tags end up in metric labels and logs: a small, safe alphabet."""
    if not _NAME_RE.fullmatch(value):
        raise t.error(key, f"{value!r} must match [a-z0-9_-]{{1,32}}")


def _route(t: _Table, modems: tuple[ModemConfig, ...]) -> RouteConfig:
    t.allow("name", "prefixes", "tags", "modems", "sticky", "fallback", "national_language")
    name = t.string("name", required=True)
    _check_label(t, "name", name)
    prefixes = t.string_list("prefixes")
    for i, prefix in enumerate(prefixes):
        if not _PREFIX_RE.fullmatch(prefix):
            raise t.error(f"prefixes[{i}]", f'{prefix!r} must be + and 1-15 digits, like "+44"')
    tags = t.string_list("tags")
    names = t.string_list("modems")
    if tags and names:
        raise t.error("modems", "set tags or modems, not both")
    known_names = {m.name for m in modems}
    families = {m.name for m in modems if m.is_family}
    for i, modem_name in enumerate(names):
        if modem_name in families:
            raise t.error(
                f"modems[{i}]",
                f"{modem_name!r} has a glob port (a family of modems): route it by tags",
            )
        if modem_name not in known_names:
            raise t.error(
                f"modems[{i}]",
                f"no modem named {modem_name!r}{_hint(modem_name, known_names)}",
            )
    known_tags = {tag for m in modems for tag in m.tags}
    for i, tag in enumerate(tags):
        if tag not in known_tags:
            raise t.error(f"tags[{i}]", f"no modem has tag {tag!r}{_hint(tag, known_tags)}")
    return RouteConfig(
        name=name,
        prefixes=prefixes,
        tags=tags,
        modems=names,
        sticky=t.boolean("sticky", True),
        fallback=t.boolean("fallback", True),
        national_language=_national_language(t),
    )


def _national_language(t: _Table) -> str | None:
    language = t.optional_string("national_language")
    if language is not None:
        t.choice("national_language", language, NATIONAL_LANGUAGES)
    return language


def _retry(t: _Table) -> RetryConfig:
    t.allow(
        "max_attempts", "backoff_initial", "backoff_max", "max_modem_switches", "resend_unknown"
    )
    initial = t.number("backoff_initial", 30.0, minimum=0.0)
    maximum = t.number("backoff_max", 900.0, minimum=0.0)
    if maximum < initial:
        raise t.error("backoff_max", f"must be at least backoff_initial ({initial})")
    return RetryConfig(
        max_attempts=t.integer("max_attempts", 5, minimum=1),
        backoff_initial=initial,
        backoff_max=maximum,
        max_modem_switches=t.integer("max_modem_switches", 2, minimum=0),
        resend_unknown=t.boolean("resend_unknown", False),
    )


def _consent(t: _Table) -> ConsentConfig:
    lists = ("stop_keywords", "start_keywords", "help_keywords")
    texts = ("stop_text", "stop_category_text", "start_text", "help_text")
    t.allow(*lists, *texts)
    seen: dict[str, str] = {}
    for key in lists:
        for i, word in enumerate(t.string_list(key)):
            folded = " ".join(word.casefold().split())
            if not folded:
                raise t.error(f"{key}[{i}]", "must not be empty")
            if seen.get(folded, key) != key:
                raise t.error(f"{key}[{i}]", f"{word!r} is also in {seen[folded]}")
            seen[folded] = key
    defaults = ConsentConfig()
    values = {key: t.string(key, getattr(defaults, key)) for key in texts}
    for key, value in values.items():
        if not value.strip():
            raise t.error(key, "must not be empty")
    return ConsentConfig(
        stop_keywords=t.string_list("stop_keywords"),
        start_keywords=t.string_list("start_keywords"),
        help_keywords=t.string_list("help_keywords"),
        stop_text=values["stop_text"],
        stop_category_text=values["stop_category_text"],
        start_text=values["start_text"],
        help_text=values["help_text"],
    )


def _replies(t: _Table) -> RepliesConfig:
    t.allow("follow_ups", "unmatched_text")
    unmatched = t.optional_string("unmatched_text")
    if unmatched is not None and not unmatched.strip():
        raise t.error("unmatched_text", "must not be empty (leave it out for no nudge)")
    table = t.table("follow_ups")
    follow_ups: dict[str, str] = {}
    for meaning in table.data:
        text = table.string(meaning)
        if not meaning.strip() or not text.strip():
            raise table.error(meaning, "a meaning and its text must not be empty")
        follow_ups[meaning.strip().casefold()] = text
    return RepliesConfig(follow_ups=MappingProxyType(follow_ups), unmatched_text=unmatched)


def _logging(t: _Table) -> LoggingConfig:
    t.allow("level", "format")
    level = t.string("level", "info").lower()
    t.choice("level", level, LOG_LEVELS)
    fmt = t.string("format", "text")
    t.choice("format", fmt, LOG_FORMATS)
    return LoggingConfig(level=level, format=fmt)


def _clients(t: _Table) -> ClientsConfig:
    t.allow("failed_auth_limit", "failed_auth_window")
    return ClientsConfig(
        failed_auth_limit=t.integer("failed_auth_limit", 10, minimum=1),
        failed_auth_window=_positive(t, "failed_auth_window", 60.0),
    )


def _check_unique(names: list[str], section: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(
                f"{section}[{i}].name: duplicate name {name!r}", field=f"{section}[{i}].name"
            )
        seen.add(name)


def _check_family_names(modems: tuple[ModemConfig, ...]) -> None:
    """``<family>-<suffix>`` names belong to a glob port's devices (gateway.fleet.discovery)."""
    for family in (m for m in modems if m.is_family):
        reserved = re.compile(rf"{re.escape(family.name)}-[a-z0-9]+")
        for i, modem in enumerate(modems):
            if not modem.is_family and reserved.fullmatch(modem.name):
                raise ConfigError(
                    f"modems[{i}].name: {modem.name!r} looks like the name of a device of"
                    f" {family.name!r} (a glob port); choose another",
                    field=f"modems[{i}].name",
                )


def _hint(word: str, candidates: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# categories and the clinic's hours --------------------------------------------------

CARE: Final = "care"  # the category of a message that names none
_HHMM_RE: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A span of local wall time, minutes after midnight; ``end <= start`` crosses midnight."""

    start: int
    end: int

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class CategoryConfig:
    """``[categories.NAME]``: what kind of message this is, and the rules it follows."""

    opt_out: bool = True  # a patient's STOP covers it; false only where the law allows
    quiet_hours: DailyWindow | None = None  # clinic local time; None: any hour
    urgent_in_quiet_hours: bool = True  # priority "urgent" passes the quiet hours


DEFAULT_CATEGORIES: Final[Mapping[str, CategoryConfig]] = MappingProxyType(
    {name: CategoryConfig() for name in (CARE, "reminder", "survey", "marketing")}
)


@dataclass(frozen=True, slots=True)
class AutoReplyConfig:
    """``[clinic.auto_reply]``: one text to a patient who writes while the office is closed."""

    enabled: bool = False
    text: str = ""


@dataclass(frozen=True, slots=True)
class ClinicConfig:
    """``[clinic]``: who the clinic is and when it is open, in its own time zone."""

    name: str = "Your clinic"  # named in default texts, which begin with it
    phone: str | None = None  # shown to patients on closed secure-message pages
    timezone: str = "UTC"  # IANA name; required once anything depends on local time
    office_hours: tuple[tuple[DailyWindow, ...], ...] = ((),) * 7  # by date.weekday()
    holidays: frozenset[date] = frozenset()
    auto_reply: AutoReplyConfig = field(default_factory=AutoReplyConfig)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def parse_categories(t: _Table) -> Mapping[str, CategoryConfig]:
    """The four defaults, each replaced by a table of its name; other names are added."""
    found = dict(DEFAULT_CATEGORIES)
    for name in t.data:
        if not _NAME_RE.fullmatch(name):
            raise t.error(name, "a category name is 1-32 of a-z, 0-9, - and _")
        table = t.table(name, allowed={"opt_out", "quiet_hours", "urgent_in_quiet_hours"})
        quiet = table.optional_string("quiet_hours")
        found[name] = CategoryConfig(
            opt_out=table.boolean("opt_out", True),
            quiet_hours=None if quiet is None else _window(table, "quiet_hours", quiet),
            urgent_in_quiet_hours=table.boolean("urgent_in_quiet_hours", True),
        )
    return MappingProxyType(found)


def parse_clinic(t: _Table, categories: Mapping[str, CategoryConfig]) -> ClinicConfig:
    t.allow("name", "phone", "timezone", "office_hours", "holidays", "auto_reply")
    name = t.string("name", "Your clinic").strip()
    if not name:
        raise t.error("name", "must not be empty")
    zone = t.optional_string("timezone")
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            why = f"{zone!r} is not an IANA time zone (e.g. America/Chicago)"
            raise t.error("timezone", why) from None
    hours_table = t.table("office_hours", allowed=set(WEEKDAYS))
    office_hours = tuple(_day_windows(hours_table, day) for day in WEEKDAYS)
    holidays = frozenset(_holiday(t, i, text) for i, text in enumerate(t.string_list("holidays")))
    reply_table = t.table("auto_reply", allowed={"enabled", "text"})
    auto_reply = AutoReplyConfig(
        enabled=reply_table.boolean("enabled", False), text=reply_table.string("text").strip()
    )
    if auto_reply.enabled and not auto_reply.text:
        raise reply_table.error("text", "is required when enabled = true")
    if auto_reply.enabled and not any(office_hours):
        raise t.error("office_hours", "at least one day is required for an auto-reply")
    quiet = sorted(n for n, c in categories.items() if c.quiet_hours is not None)
    if zone is None and (quiet or any(office_hours)):
        needs = f"categories.{quiet[0]}.quiet_hours" if quiet else "clinic.office_hours"
        raise t.error("timezone", f"is required by {needs} (local time needs a zone)")
    phone = t.optional_string("phone")
    return ClinicConfig(
        name=name,
        phone=phone.strip() or None if phone is not None else None,
        timezone=zone or "UTC",
        office_hours=office_hours,
        holidays=holidays,
        auto_reply=auto_reply,
    )


def _window(t: _Table, key: str, text: str) -> DailyWindow:
    start, sep, end = text.partition("-")
    a, b = _HHMM_RE.fullmatch(start.strip()), _HHMM_RE.fullmatch(end.strip())
    if not sep or a is None or b is None:
        raise t.error(key, f"must be HH:MM-HH:MM (24-hour, e.g. 20:00-08:00), got {text!r}")
    window = DailyWindow(int(a[1]) * 60 + int(a[2]), int(b[1]) * 60 + int(b[2]))
    if window.start == window.end:
        raise t.error(key, "start and end are the same time")
    return window


def _day_windows(t: _Table, day: str) -> tuple[DailyWindow, ...]:
    """One ``"08:00-17:00"`` or a list of them; office hours stay within the day."""
    value = t.data.get(day)
    if value is None:
        return ()
    texts = t.string_list(day) if isinstance(value, list) else (t.string(day),)
    windows = tuple(_window(t, day, text) for text in texts)
    for window in windows:
        if window.crosses_midnight:
            raise t.error(day, "office hours must end after they start, within the day")
    return tuple(sorted(windows, key=lambda w: w.start))


def _holiday(t: _Table, index: int, text: str) -> date:
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise t.error(f"holidays[{index}]", f"must be a date YYYY-MM-DD, got {text!r}") from None


# callback hosts and webhooks ---------------------------------------------------


def parse_callback_host(entry: str) -> str | Network:
    """One ``callback_hosts`` entry: a lower-case name or ``*.`` wildcard, or a network.

    Raises ``ValueError`` saying what is wrong.
    """
    text = entry.strip().lower()
    if not text:
        raise ValueError("an entry is empty")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    name = text.removeprefix("*.")
    if "/" in text or not _HOST_NAME_RE.fullmatch(name) or len(name) > 253:
        raise ValueError(f"{entry!r} is not a host name, *.wildcard, IP address or CIDR block")
    return text


def check_url(url: object, field_name: str) -> str:
    """A webhook or callback URL: http(s) with a host. Shared with the API's checks."""
    if not isinstance(url, str) or not url or len(url) > WEBHOOK_URL_MAX_CHARS:
        raise ValidationError(f"{field_name} must be an http(s) URL", field=field_name)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{field_name} must be an http(s) URL", field=field_name)
    return url


def check_events(value: object, field_name: str) -> tuple[EventKind, ...]:
    """A non-empty list of event kinds, duplicates dropped. Shared with the API's checks."""
    names = ", ".join(sorted(ALL_KINDS))
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{field_name} must be a non-empty list of: {names}", field=field_name
        )
    kinds: list[EventKind] = []
    for item in value:
        if not isinstance(item, str) or item not in ALL_KINDS:
            raise ValidationError(f"{field_name} must only hold: {names}", field=field_name)
        if EventKind(item) not in kinds:
            kinds.append(EventKind(item))
    return tuple(kinds)


def parse_webhooks(items: object, *, base_dir: Path) -> tuple[WebhookConfig, ...]:
    """Validate the configuration's ``webhooks`` array (``[[webhooks]]`` tables)."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConfigError("webhooks must be an array of tables", field="webhooks")
    found: list[WebhookConfig] = []
    for index, item in enumerate(items):
        prefix = f"webhooks[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{prefix} must be a table", field=prefix)
        try:
            found.append(_webhook(item, prefix, base_dir))
        except ValidationError as exc:
            raise ConfigError(exc.message, field=exc.field) from None
    names = [w.name for w in found]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(
                f"webhooks[{index}].name: duplicate name {name!r}", field=f"webhooks[{index}].name"
            )
    return tuple(found)


def _webhook(item: Mapping[str, Any], prefix: str, base_dir: Path) -> WebhookConfig:
    for key in item:
        if key not in _WEBHOOK_KEYS:
            raise ValidationError(f"{prefix}.{key}: unknown key", field=f"{prefix}.{key}")
    name = item.get("name", prefix.replace("[", "").replace("]", ""))
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError(
            f"{prefix}.name: letters, digits, - and _ only", field=f"{prefix}.name"
        )
    url = check_url(item.get("url"), f"{prefix}.url")
    events = check_events(item.get("events"), f"{prefix}.events")
    secret = _webhook_secret(item, prefix, base_dir)
    fmt = item.get("format", "smsgw")
    if fmt not in WEBHOOK_FORMATS:
        raise ValidationError(
            f"{prefix}.format: one of {', '.join(WEBHOOK_FORMATS)}", field=f"{prefix}.format"
        )
    account_sid = item.get("account_sid")
    if account_sid is not None and not isinstance(account_sid, str):
        raise ValidationError(f"{prefix}.account_sid: a string", field=f"{prefix}.account_sid")
    max_attempts = item.get("max_attempts")
    if max_attempts is not None and (
        isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
    ):
        raise ValidationError(
            f"{prefix}.max_attempts: a positive integer", field=f"{prefix}.max_attempts"
        )
    return WebhookConfig(name, url, events, secret, str(fmt), account_sid, max_attempts)


def _webhook_secret(item: Mapping[str, Any], prefix: str, base_dir: Path) -> str:
    secret, secret_file = item.get("secret"), item.get("secret_file")
    if (secret is None) == (secret_file is None):
        raise ValidationError(
            f"{prefix}: exactly one of secret and secret_file", field=f"{prefix}.secret"
        )
    if secret_file is not None:
        if not isinstance(secret_file, str):
            raise ValidationError(f"{prefix}.secret_file: a path", field=f"{prefix}.secret_file")
        path = Path(secret_file) if Path(secret_file).is_absolute() else base_dir / secret_file
        try:
            secret = path.read_text().strip()
        except OSError as exc:
            raise ValidationError(
                f"{prefix}.secret_file: cannot read ({exc.strerror})", field=f"{prefix}.secret_file"
            ) from None
    if not isinstance(secret, str) or len(secret) < WEBHOOK_SECRET_MIN_CHARS:
        raise ValidationError(
            f"{prefix}.secret: at least {WEBHOOK_SECRET_MIN_CHARS} characters",
            field=f"{prefix}.secret",
        )
    return secret


# typed reading of one table ------------------------------------------------------


class _Table:
    """One TOML table plus its dotted path, with typed getters that name the key on error."""

    def __init__(
        self,
        data: Mapping[str, Any],
        prefix: str,
        allowed: set[str] | None,
        base_dir: Path,
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.base_dir = base_dir
        if allowed is not None:
            self.allow(*allowed)

    def dotted(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, why: str) -> ConfigError:
        name = self.dotted(key)
        return ConfigError(f"{name}: {why}", field=name)

    def allow(self, *keys: str) -> None:
        allowed = frozenset(keys)
        for key in self.data:
            if key not in allowed:
                raise self.error(key, f"unknown key{_hint(key, allowed)}")

    def _get(self, key: str, kinds: tuple[type, ...], what: str) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(key, f"must be {what}, got a boolean")
        if not isinstance(value, kinds):
            raise self.error(key, f"must be {what}, got {_toml_type(value)}")
        return value

    def _missing(self, key: str) -> ConfigError:
        return self.error(key, "is required")

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        value: str | None = self._get(key, (str,), "a string")
        if value is None:
            if required:
                raise self._missing(key)
            return default
        return value

    def optional_string(self, key: str) -> str | None:
        value: str | None = self._get(key, (str,), "a string")
        return value

    def choice(self, key: str, value: str, options: tuple[str, ...]) -> None:
        if value not in options:
            raise self.error(
                key,
                f"{value!r} is not one of {', '.join(options)}{_hint(value, set(options))}",
            )

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value: int | None = self._get(key, (int,), "an integer")
        if value is None:
            return default
        self._range(key, value, minimum, maximum)
        return value

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        value = self.optional_number(key, minimum=minimum)
        return default if value is None else value

    def optional_number(self, key: str, *, minimum: float | None = None) -> float | None:
        value: int | float | None = self._get(key, (int, float), "a number")
        if value is None:
            return None
        if not math.isfinite(value):
            raise self.error(key, "must be a finite number")
        self._range(key, value, minimum, None)
        return float(value)

    def _range(self, key: str, value: float, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")

    def boolean(self, key: str, default: bool) -> bool:
        value: bool | None = self._get(key, (bool,), "true or false")
        return default if value is None else value

    def string_list(self, key: str) -> tuple[str, ...]:
        value: list[Any] | None = self._get(key, (list,), "a list of strings")
        if value is None:
            return ()
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", f"must be a string, got {_toml_type(item)}")
        return tuple(value)

    def path(self, key: str, *, required: bool = False, must_exist: bool = False) -> Path | None:
        value = self.string(key, "", required=required)
        if not value:
            if key in self.data:
                raise self.error(key, "must not be empty")
            return None
        # normpath, not resolve(): keep symlinks (by-id paths) as written, drop the "..".
        resolved = Path(os.path.normpath(self.base_dir / Path(value).expanduser()))
        if must_exist and not resolved.is_file():
            raise self.error(key, f"file not found: {resolved}")
        return resolved

    def table(self, key: str, *, required: bool = False, allowed: set[str] | None = None) -> _Table:
        value: dict[str, Any] | None = self._get(key, (dict,), "a table")
        if value is None:
            if required:
                raise self.error(key, f"the [{self.dotted(key)}] table is required")
            value = {}
        return _Table(value, self.dotted(key), allowed, self.base_dir)

    def tables(self, key: str) -> list[_Table]:
        value: list[Any] | None = self._get(key, (list,), f"an array of tables ([[{key}]])")
        if value is None:
            return []
        out = []
        for i, item in enumerate(value):
            name = f"{self.dotted(key)}[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(f"{name}: must be a table ([[{key}]])", field=name)
            out.append(_Table(item, name, None, self.base_dir))
        return out


def _toml_type(value: object) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    for kind, word in kinds.items():
        if isinstance(value, kind):
            return word
    return type(value).__name__
