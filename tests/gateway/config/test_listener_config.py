"""``[server]`` listener keys: plain HTTP beyond loopback is refused unless asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError

MINIMAL = """
[store]
data_dir = "data"

[[modems]]
name = "m1"
port = "/dev/serial/by-id/usb-Quectel_EC25-if02-port0"
"""


def write(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text("[server]\n" + server + "\n" + MINIMAL)
    return path


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "gw.clinic.example"])
def test_plain_http_beyond_loopback_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f'host = "{host}"'))
    assert info.value.field == "server.host"
    assert "tls_cert" in info.value.message
    assert "allow_plain_http" in info.value.message


def test_plain_http_beyond_loopback_when_allowed(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'host = "0.0.0.0"\nallow_plain_http = true'))
    assert cfg.server.allow_plain_http is True
    assert cfg.server.loopback is False


def test_tls_beyond_loopback_needs_no_permission(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    cfg = load_config(
        write(tmp_path, 'host = "0.0.0.0"\ntls_cert = "cert.pem"\ntls_key = "key.pem"')
    )
    assert cfg.server.tls_cert == tmp_path / "cert.pem"


def test_loopback_needs_neither(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'host = "127.0.0.1"'))
    assert cfg.server.allow_plain_http is False


def test_listener_limits_default_and_bounds(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg.server.header_timeout == 10.0
    assert cfg.server.body_timeout == 30.0
    assert cfg.server.max_connections == 512
    cfg = load_config(
        write(tmp_path, "header_timeout = 0.5\nbody_timeout = 2\nmax_connections = 3")
    )
    assert (cfg.server.header_timeout, cfg.server.body_timeout) == (0.5, 2.0)
    assert cfg.server.max_connections == 3
    for bad, key in (
        ("header_timeout = 0", "server.header_timeout"),
        ("body_timeout = -1", "server.body_timeout"),
        ("max_connections = 0", "server.max_connections"),
    ):
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, bad))
        assert info.value.field == key
