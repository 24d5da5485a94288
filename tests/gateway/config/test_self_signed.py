"""``smsgw init --self-signed``: a key and certificate for a LAN, which the config then
names, and which the daemon serves and a client trusting the certificate accepts."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import stat
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from gateway.cli import main as cli
from gateway.cli.self_signed import subject_names
from gateway.cli.simulators import simulated_modems
from gateway.config import load_config
from gateway.daemon import Daemon
from tests.support import free_port

CONFIG = """\
[server]
# the LAN: every interface
host = "0.0.0.0"
port = {port}

[store]
data_dir = "data"
durable = false

[[modems]]
name = "m1"
simulate = "generic"
"""


def _names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return dns, ips


def test_names_cover_the_host_localhost_and_this_machine() -> None:
    dns, ips = subject_names("gateway.clinic.lan")
    assert {"gateway.clinic.lan", "localhost", socket.gethostname()} <= set(dns)
    assert {"127.0.0.1", "::1"} <= {str(ip) for ip in ips}
    dns, ips = subject_names("192.168.1.20")
    assert ipaddress.ip_address("192.168.1.20") in ips
    dns, ips = subject_names("0.0.0.0")  # every interface: not a name a client uses
    assert ipaddress.ip_address("0.0.0.0") not in ips
    assert "0.0.0.0" not in dns


async def test_init_self_signed_and_the_daemon_serves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_text(CONFIG.format(port=free_port()))
    # The CLI runs its own event loop (asyncio.run): in a thread, beside this test's.
    init = ["init", "--self-signed", "--config", str(path)]
    assert await asyncio.to_thread(cli.main, init) == cli.EXIT_OK
    out = capsys.readouterr().out
    config = load_config(path)  # the config now names the pair (and passes the TLS rule)
    cert_path, key_path = config.server.tls_cert, config.server.tls_key
    assert cert_path is not None
    assert key_path is not None
    assert str(cert_path) in out
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert "# the LAN: every interface" in path.read_text()  # the rest left as it was
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    dns, ips = _names(cert)
    assert {"localhost", socket.gethostname()} <= dns
    assert "127.0.0.1" in ips
    assert config.store.key_file.exists()  # a first init also made the key file

    # Run again: the pair is not replaced (clients trust it).
    before = cert_path.read_bytes()
    assert await asyncio.to_thread(cli.main, init) == cli.EXIT_KEY
    assert cert_path.read_bytes() == before

    async with simulated_modems(config) as with_simulator:
        daemon = Daemon(with_simulator)
        await daemon.start()
        try:
            assert daemon.api_url is not None
            assert daemon.api_url.startswith("https://")
            port = daemon.api_url.rsplit(":", 1)[1]
            trusting = ssl.create_default_context(cafile=str(cert_path))  # checks the name
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"https://localhost:{port}/healthz", ssl=trusting) as response,
            ):
                assert response.status == 200
            # A client that does not trust it is refused: this is TLS, not plain HTTP.
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"https://localhost:{port}/healthz") as response,
                ):
                    pass
        finally:
            await daemon.stop()
