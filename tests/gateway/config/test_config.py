"""Config loading: each mistake is refused with the dotted key that caused it."""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from pathlib import Path

import pytest

from gateway.config import WEEKDAYS, ApiSettings, Config, load_config
from gateway.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "config" / "smsgw.example.toml"
DEMO = REPO / "config" / "demo.toml"

MINIMAL = """
[store]
data_dir = "data"

[[modems]]
name = "m1"
port = "/dev/serial/by-id/usb-Quectel_EC25-if02-port0"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text(text)
    return path


def refuse(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.code == "config_invalid"
    return info.value


def test_minimal_config_fills_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.port == 8080
    assert cfg.server.default_country == "1"
    assert cfg.store.data_dir == tmp_path / "data"
    assert cfg.store.key_file == tmp_path / "data" / "smsgw.key"
    assert cfg.store.database == tmp_path / "data" / "smsgw.db"
    assert cfg.store.durable is True
    assert cfg.store.retention_days == 90
    modem = cfg.modems[0]
    assert modem.profile == "auto"
    assert modem.rate.per_minute == 10
    assert modem.rate.per_hour == 0
    assert modem.simulator is None
    assert cfg.retry.max_attempts == 5
    assert cfg.retry.resend_unknown is False
    assert cfg.inbound.reassembly_timeout == 600.0
    assert cfg.logging.format == "text"
    assert cfg.routes == ()


def test_api_settings_come_from_server(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, "[server]\nport = 9000\nmax_batch = 7\nmax_segments = 3\n" + MINIMAL)
    )
    assert cfg.server.port == 9000
    assert cfg.api_settings() == ApiSettings(
        max_body_bytes=1_048_576,
        max_batch=7,
        max_segments=3,
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.7", False),
        ("gw.clinic.example", False),
    ],
)
def test_loopback_listener(tmp_path: Path, host: str, loopback: bool) -> None:
    cfg = load_config(
        write(tmp_path, f'[server]\nhost = "{host}"\nallow_plain_http = true\n' + MINIMAL)
    )
    assert cfg.server.loopback is loopback


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "pin").write_text("1234\n")
    text = MINIMAL.replace('data_dir = "data"', 'data_dir = "../elsewhere/data"') + (
        'pin_file = "pin"\n'
    )
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "pin").write_text("1234\n")
    path = sub / "smsgw.toml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.store.data_dir == tmp_path / "elsewhere" / "data"
    assert cfg.modems[0].pin_file == sub / "pin"
    assert cfg.modems[0].read_pin() == "1234"


def test_pin_is_not_in_repr(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + 'pin = "8642"\n'))
    assert cfg.modems[0].read_pin() == "8642"
    assert "8642" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "field", "why"),
    [
        ("[server]\nprot = 80\n" + MINIMAL, "server.prot", "did you mean 'port'"),
        (
            MINIMAL + "[modems.rate]\nper_minut = 5\n",
            "modems[0].rate.per_minut",
            "did you mean 'per_minute'",
        ),
        ("[bogus]\n" + MINIMAL, "bogus", "unknown key"),
        ('[server]\nport = "8080"\n' + MINIMAL, "server.port", "integer"),
        ("[server]\nport = true\n" + MINIMAL, "server.port", "boolean"),
        ("[server]\nport = 70000\n" + MINIMAL, "server.port", "at most 65535"),
        (
            "[store]\ndurable = 1\n" + MINIMAL.replace("[store]\n", ""),
            "store.durable",
            "true or false",
        ),
        (MINIMAL + 'enabled = "yes"\n', "modems[0].enabled", "true or false"),
        (MINIMAL + 'tags = ["ok", 3]\n', "modems[0].tags[1]", "string"),
        (MINIMAL + 'number = "5551234"\n', "modems[0].number", "E.164"),
        (MINIMAL.replace('data_dir = "data"', ""), "store.data_dir", "required"),
        ("[server]\n", "store", "required"),
        (MINIMAL.replace('name = "m1"\n', ""), "modems[0].name", "required"),
        (MINIMAL + 'simulate = "quectel"\n', "modems[0].simulate", "exactly one"),
        (
            MINIMAL.replace('port = "/dev/serial/by-id/usb-Quectel_EC25-if02-port0"', ""),
            "modems[0].port",
            "exactly one",
        ),
        (MINIMAL.replace('name = "m1"', 'name = "Front Desk"'), "modems[0].name", "[a-z0-9_-]"),
        (MINIMAL.replace("/dev/serial", "dev/serial"), "modems[0].port", "absolute"),
        (MINIMAL + 'profile = "quectell"\n', "modems[0].profile", "did you mean 'quectel'"),
        (MINIMAL + 'pin = "12"\n', "modems[0].pin", "4-8 digits"),
        (MINIMAL + 'pin_file = "nope"\n', "modems[0].pin_file", "not found"),
        (MINIMAL + "[modems.simulator]\nradio_time = 1\n", "modems[0].simulator", "simulate"),
        (
            '[[modems]]\nname = "s"\nsimulate = "quectel"\n[modems.simulator]\nradio = 1\n'
            '[store]\ndata_dir = "d"\n',
            "modems[0].simulator.radio",
            "did you mean 'radio_time'",
        ),
        (MINIMAL + MINIMAL.split("\n", 3)[3].replace("[store]", ""), "modems[1].name", "duplicate"),
        (
            MINIMAL + '[[routes]]\nname = "r"\nmodems = ["m11"]\n',
            "routes[0].modems[0]",
            "no modem named 'm11' (did you mean 'm1'?)",
        ),
        (MINIMAL + '[[routes]]\nname = "r"\ntags = ["nope"]\n', "routes[0].tags[0]", "no modem"),
        (MINIMAL + '[[routes]]\nname = "r"\nprefixes = ["44"]\n', "routes[0].prefixes[0]", "+"),
        (
            MINIMAL + '[[routes]]\nname = "r"\nnational_language = "fr"\n',
            "routes[0].national_language",
            "es",
        ),
        (
            MINIMAL + '[[routes]]\nname = "r"\n[[routes]]\nname = "r"\n',
            "routes[1].name",
            "duplicate",
        ),
        ('[server]\ntls_cert = "cert.pem"\n' + MINIMAL, "server.tls_cert", "not found"),
        (
            "[retry]\nbackoff_initial = 60.0\nbackoff_max = 10.0\n" + MINIMAL,
            "retry.backoff_max",
            "backoff_initial",
        ),
        ("[retry]\nmax_attempts = 0\n" + MINIMAL, "retry.max_attempts", "at least 1"),
        ("[inbound]\nreassembly_timeout = nan\n" + MINIMAL, "inbound.reassembly_timeout", "finite"),
        ('[logging]\nformat = "xml"\n' + MINIMAL, "logging.format", "text, json"),
        ('[server]\ndefault_country = "+1"\n' + MINIMAL, "server.default_country", "1-3 digits"),
        ('[server]\npublic_url = "sms.example"\n' + MINIMAL, "server.public_url", "http"),
        ('modems = 3\n[store]\ndata_dir = "d"\n', "modems", "array of tables"),
    ],
)
def test_each_mistake_names_its_field(
    tmp_path: Path, text: str, field: str, why: str | None
) -> None:
    err = refuse(tmp_path, text)
    assert err.field == field
    assert err.message.startswith(field + ":")
    if why is not None:
        assert why in err.message


def test_tls_needs_both_files(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    err = refuse(tmp_path, '[server]\ntls_cert = "cert.pem"\n' + MINIMAL)
    assert err.field == "server.tls_key"
    assert "both or neither" in err.message
    cfg = load_config(
        write(tmp_path, '[server]\ntls_cert = "cert.pem"\ntls_key = "key.pem"\n' + MINIMAL)
    )
    assert cfg.server.tls_key == tmp_path / "key.pem"


def test_route_with_both_tags_and_modems_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + 'tags = ["a"]\n[[routes]]\nname = "r"\ntags = ["a"]\nmodems = ["m1"]\n'
    assert refuse(tmp_path, text).field == "routes[0].modems"


def test_no_modem_is_refused(tmp_path: Path) -> None:
    assert refuse(tmp_path, '[store]\ndata_dir = "d"\n').field == "modems"


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    err = refuse(tmp_path, "[server\n")
    assert "not valid TOML" in err.message
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_simulated_modem_gets_simulator_defaults(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[store]\ndata_dir = "d"\n[[modems]]\nname = "s"\nsimulate = "simcom"\n')
    )
    modem = cfg.modems[0]
    assert modem.port is None
    assert modem.simulate == "simcom"
    assert modem.simulator is not None
    assert modem.simulator.report_delay == 2.0


def test_globs_and_urls_are_accepted_as_ports(tmp_path: Path) -> None:
    text = (
        '[store]\ndata_dir = "d"\n'
        '[[modems]]\nname = "a"\nport = "/dev/serial/by-id/usb-Quectel*-if02*"\n'
        '[[modems]]\nname = "b"\nport = "socket://192.0.2.1:4001"\n'
        "rate = { per_minute = 0, per_day = 500, jitter_seconds = 2 }\n"
    )
    cfg = load_config(write(tmp_path, text))
    assert [m.port for m in cfg.modems] == [
        "/dev/serial/by-id/usb-Quectel*-if02*",
        "socket://192.0.2.1:4001",
    ]
    assert cfg.modems[1].rate.jitter_seconds == 2.0
    assert isinstance(cfg.modems[1].rate.jitter_seconds, float)


def test_route_matching_by_prefix(tmp_path: Path) -> None:
    text = MINIMAL + (
        'tags = ["us"]\n[[routes]]\nname = "us"\nprefixes = ["+1"]\ntags = ["us"]\n'
        '[[routes]]\nname = "any"\n'
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.routes[0].matches("+15551234567")
    assert not cfg.routes[0].matches("+445551234567")
    assert cfg.routes[1].matches("+445551234567")


def test_shipped_files_load() -> None:
    demo = load_config(DEMO)
    assert len(demo.modems) == 2
    assert all(m.simulate for m in demo.modems)
    assert demo.store.data_dir == REPO / "demo-data"
    assert demo.server.host == "127.0.0.1"
    assert demo.server.port == 8080
    example = load_config(EXAMPLE)
    assert example.modems[0].port is not None


def _fields(cls: type) -> set[str]:
    names = set()
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    for f in dataclasses.fields(cls):
        names.add(f.name)
        for inner in (hints[f.name], *typing.get_args(hints[f.name])):
            if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                names |= _fields(inner)
    return names


def test_example_documents_every_field() -> None:
    text = EXAMPLE.read_text()
    pattern = re.compile(r"^\s*#?\s*(?:\[\[?([a-z_.]+)\]\]?|([a-z_]+)\s*[=:])", re.M)
    keys = {(table or key).rsplit(".", 1)[-1] for table, key in pattern.findall(text)}
    # "HH:MM-HH:MM" (quiet_hours, office hours) is read into a DailyWindow's start and end.
    fields = _fields(Config) - {"path", "start", "end"}
    missing = sorted(fields - keys)
    assert not missing, f"config/smsgw.example.toml does not document: {missing}"
    read_into_other_fields = {"secret_file"}  # [[webhooks]]: read into ``secret``
    # Tables named by what they hold: [categories.NAME], [clinic.office_hours] days.
    # [replies.follow_ups] is keyed by the meanings messages declare.
    example = load_config(EXAMPLE)
    names = set(WEEKDAYS) | set(example.categories) | set(example.replies.follow_ups)
    stale = sorted(keys - fields - read_into_other_fields - names)
    assert not stale, f"config/smsgw.example.toml documents keys that do not exist: {stale}"


def test_a_modems_own_number_is_read_and_refused_on_a_family(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + 'number = "+15551234567"\n'))
    assert cfg.modems[0].number == "+15551234567"
    assert load_config(write(tmp_path, MINIMAL)).modems[0].number is None
    family = MINIMAL.replace("usb-Quectel_EC25-if02-port0", "usb-Quectel_*-if02-port0")
    error = refuse(tmp_path, family + 'number = "+15551234567"\n')
    assert error.field == "modems[0].number"
