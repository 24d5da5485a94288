"""``[server.public]`` and ``[clinic] phone``: the secure pages' listener, read strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import PublicListenerConfig, load_config
from gateway.errors import ConfigError

REST = """
[store]
data_dir = "data"

[[modems]]
name = "m1"
port = "/dev/serial/by-id/usb-Quectel_EC25-if02-port0"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text(text + "\n" + REST)
    return path


def test_absent_means_no_public_listener(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[server]\nport = 8080"))
    assert cfg.server.public is None
    assert cfg.clinic.phone is None


def test_the_listener_and_the_clinic_phone_are_read(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            '[server.public]\nport = 9443\npublic_url = "https://messages.clinic.example/"\n'
            '[clinic]\nname = "Maple"\nphone = " +1 555 010 2000 "',
        )
    )
    assert cfg.server.public == PublicListenerConfig(
        host="127.0.0.1", port=9443, public_url="https://messages.clinic.example"
    )
    assert cfg.clinic.phone == "+1 555 010 2000"


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('[server.public]\nhost = "0.0.0.0"', "server.public.host"),
        ('[server.public]\npublic_url = "messages.clinic.example"', "server.public.public_url"),
        ("[server.public]\nport = 70000", "server.public.port"),
        ("[server.public]\ntls = true", "server.public.tls"),
    ],
)
def test_bad_keys_are_named(tmp_path: Path, table: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, table))
    assert info.value.field == field


def test_beyond_loopback_only_when_plain_http_is_allowed(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[server]\nallow_plain_http = true\n[server.public]\nhost = "0.0.0.0"')
    )
    assert cfg.server.public is not None
    assert cfg.server.public.host == "0.0.0.0"
