"""``smsgw init --self-signed``: a private key and a self-signed certificate for serving
the API over TLS on a LAN, where no public CA will issue one for a clinic's host.

Clients trust the certificate itself (it is its own anchor), so it names every way a
client on the LAN may reach the gateway: the configured host, ``localhost`` and the
machine's own host name. The pair is written once and never replaced here, since
clients have pinned it; the config file is then pointed at it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.config import load_config, parse_config
from gateway.errors import ConfigError, KeyFileError

VALID_DAYS: Final = 825  # the longest lifetime clients such as Apple's accept for a server
CERT_NAME: Final = "cert.pem"
KEY_NAME: Final = "key.pem"
_SERVER_TABLE: Final = re.compile(r"^\[server\][ \t]*(#.*)?$", re.MULTILINE)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TlsPair:
    cert: Path
    key: Path


def subject_names(host: str) -> tuple[list[str], list[IpAddress]]:
    """DNS names and addresses the certificate covers. A wildcard listen address
    (``0.0.0.0``, ``::``) is no name a client connects to, and is left out."""
    dns = ["localhost"]
    ips: list[IpAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for name in (host, socket.gethostname()):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            if name and name not in dns:
                dns.append(name)
            continue
        if not address.is_unspecified and address not in ips:
            ips.append(address)
    return dns, ips


def make_pair(host: str, *, now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS#8 private key PEM): ECDSA P-256, SHA-256."""
    key = ec.generate_private_key(ec.SECP256R1())
    dns, ips = subject_names(host)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname() or "smsgw")])
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)  # clocks disagree a bit
    public = key.public_key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    sans += [x509.IPAddress(ip) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_pair(pair: TlsPair, host: str) -> None:
    """Create both files (the key 0600, created so, never loosened after); refuses to
    replace either."""
    for path in (pair.cert, pair.key):
        if path.exists():
            raise KeyFileError(
                f"{path} exists; refusing to replace a certificate clients may trust "
                "(move it away first to make a new one)"
            )
    cert_pem, key_pem = make_pair(host)
    for path, content, mode in ((pair.key, key_pem, 0o600), (pair.cert, cert_pem, 0o644)):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())


def config_lines(pair: TlsPair) -> str:
    # A TOML basic string takes JSON's escapes for every character a path may hold.
    return f"tls_cert = {json.dumps(str(pair.cert))}\ntls_key = {json.dumps(str(pair.key))}\n"


def point_config_at(config_path: Path, pair: TlsPair) -> None:
    """Add ``tls_cert`` and ``tls_key`` to the file's ``[server]`` table (made if
    missing), keeping the rest of the file, comments included, as it was."""
    try:
        text = config_path.read_text(encoding="utf-8")
        match = _SERVER_TABLE.search(text)
        if match is None:
            text = "[server]\n" + config_lines(pair) + "\n" + text
        else:
            end = match.end() + 1
            text = text[:end] + config_lines(pair) + text[end:]
        temp = config_path.with_name(config_path.name + ".tmp")
        temp.write_text(text, encoding="utf-8")
        os.chmod(temp, config_path.stat().st_mode & 0o7777)
        os.replace(temp, config_path)
    except OSError as exc:
        raise ConfigError(
            f"cannot update {config_path} ({exc.strerror}); add to its [server] table:\n"
            + config_lines(pair)
        ) from None


def make_for_config(config_path: Path) -> TlsPair:
    """Make the pair for the gateway ``config_path`` describes and point the file at it.

    The file is read leniently first: before this runs, a LAN ``host`` fails the rule
    that wants TLS beyond loopback, and ``tls_cert``/``tls_key`` may name files not yet
    made (then those are the paths written). Otherwise the pair goes to
    ``<data_dir>/tls/``, which the service may read under ``ProtectSystem=strict``.
    """
    try:
        with config_path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        load_config(config_path)  # raises the ConfigError that names what is wrong
        raise
    server = dict(data.get("server") or {})
    named = [server.pop(k, None) for k in ("tls_cert", "tls_key")]
    server["allow_plain_http"] = True
    config = parse_config({**data, "server": server}, base_dir=config_path.parent, path=config_path)
    if all(isinstance(n, str) and n for n in named):
        base = config_path.parent
        pair = TlsPair(*(Path(os.path.normpath(base / Path(str(n)).expanduser())) for n in named))
        write_pair(pair, config.server.host)
        return pair
    if any(named):
        raise ConfigError("[server] names only one of tls_cert and tls_key; name both or neither")
    directory = config.store.data_dir / "tls"
    pair = TlsPair(directory / CERT_NAME, directory / KEY_NAME)
    write_pair(pair, config.server.host)
    point_config_at(config_path, pair)
    return pair
