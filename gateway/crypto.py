"""Field encryption for PHI at rest, and keyed hashes for lookups.

Choices, and why:

- **AES-256-GCM per field** (``cryptography``'s AESGCM): authenticated, so a
  flipped bit or a forged value is refused rather than decoded into nonsense;
  hardware-accelerated; one value per call keeps the store's schema ordinary
  (ids, states and times stay queryable in clear).
- **Random 96-bit nonce per value**: GCM's standard nonce size. At our volumes
  (millions of values per key) the birthday bound for random nonces is far away,
  and random nonces need no counter state that a crash could roll back.
- **Associated data binds a value to its place** (``b"messages.body.<id>"``): a
  ciphertext copied into another row or column no longer authenticates, so an
  attacker with write access to the file cannot swap one patient's text for
  another's.
- **The key id travels in each value**: ``version | len(key id) | key id | nonce |
  ciphertext+tag``. After a rotation old values still open with their own key
  and can be re-encrypted lazily, in batches, while the daemon runs; then
  ``retire`` drops the old keys, so old copies of the database stop being
  readable with the key file.
- **A separate HMAC-SHA256 key for lookups** (numbers, dedupe keys): equality
  search without storing the number. It is not rotated, because every stored
  hash would change with it and lookups (opt-out, sticky conversations) would
  silently miss.
- **The key file is JSON with mode 0600, owned by the service user**, created
  exclusively and replaced atomically (temporary file + ``os.replace``), so a
  crash never leaves a half-written key file and an existing key is never
  overwritten by accident. ``load`` refuses a file others could read: the key is
  the only thing standing between the disk and the PHI.

Rotation adds a key to the file; the process that owns the store then
``reload``s its ring in place (every holder of the ring sees the new key at once),
re-encrypts and ``retire``s. Changes to the file (``rotate``, ``retire``) are made
under an exclusive ``flock`` on its directory, each re-reading the file first, so
two processes never undo each other's change.

Several threads use one ring (the store's SQLite workers seal and open too), so a
reload swaps whole immutable values: ``open`` and ``seal`` never see half of one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import KeyFileError, StoreError, UnknownKey

KEY_FILE_VERSION = 1
BLOB_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID_BYTES = 4  # 8 hex characters: plenty for the handful of keys a ring ever holds
_MAX_KEY_FILE_BYTES = 1_048_576


class KeyRing:
    """Data keys by id (one of them current) plus the lookup-hash key."""

    def __init__(self, *, current: str, keys: dict[str, bytes], hmac_key: bytes) -> None:
        if current not in keys:
            raise KeyFileError(f"current key id {current!r} is not among the keys")
        self._keys = dict(keys)
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._hmac_key = hmac_key
        self._path: Path | None = None  # the file it was loaded from or written to
        self._set_current(current)

    # -- files ---------------------------------------------------------------

    @classmethod
    def generate(cls) -> KeyRing:
        key_id = _new_key_id()
        return cls(
            current=key_id,
            keys={key_id: AESGCM.generate_key(bit_length=256)},
            hmac_key=secrets.token_bytes(KEY_BYTES),
        )

    @classmethod
    def create(cls, path: Path) -> KeyRing:
        """A new key ring written to ``path`` (mode 0600); refuses to overwrite."""
        ring = cls.generate()
        if path.exists():
            raise KeyFileError(f"key file {path} already exists; refusing to overwrite it")
        tmp = _write_private_temp(path, ring._to_json())
        try:
            # link() fails if the target exists: exclusive and atomic together.
            os.link(tmp, path)
        except FileExistsError:
            raise KeyFileError(
                f"key file {path} already exists; refusing to overwrite it"
            ) from None
        except OSError as exc:
            raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        fsync_dir(path.parent)
        ring._path = path
        return ring

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        ring = cls._read(path)
        ring._path = path
        return ring

    @property
    def path(self) -> Path | None:
        return self._path

    def reload(self) -> bool:
        """Re-read the file this ring came from, in place; True when its keys changed.

        Checks the file as ``load`` does, and refuses one with another lookup-hash
        key (a different gateway's file): every stored hash would stop matching."""
        if self._path is None:
            raise KeyFileError("this key ring was not loaded from a file")
        fresh = KeyRing._read(self._path)
        if not hmac.compare_digest(fresh._hmac_key, self._hmac_key):
            raise KeyFileError(
                f"key file {self._path} now belongs to another gateway (its lookup key changed)"
            )
        changed = fresh._keys != self._keys or fresh._current != self._current
        if changed:
            self._adopt(fresh)
        return changed

    @classmethod
    def _read(cls, path: Path) -> KeyRing:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise KeyFileError(f"key file {path} does not exist") from None
        except OSError as exc:
            raise KeyFileError(f"cannot open key file {path}: {exc.strerror}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise KeyFileError(f"key file {path} is not a regular file")
            if info.st_uid != os.geteuid():
                raise KeyFileError(
                    f"key file {path} is owned by uid {info.st_uid}, not by the user running "
                    f"the gateway (uid {os.geteuid()})"
                )
            if info.st_mode & 0o077:
                raise KeyFileError(
                    f"key file {path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
                )
            raw = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)
        if len(raw) > _MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"key file {path} is too large to be a key file")
        return cls._from_json(raw, path)

    def rotate(self, path: Path) -> str:
        """Add a new current key, rewrite ``path`` atomically, return the new key id.

        Old keys stay in the ring until every value sealed with them has been
        re-encrypted (``Store.rotate_key``). The file is the truth for the other keys
        (another process may have retired some); this ring's current key is kept."""
        with _locked_dir(path.parent):
            keys = self._on_disk(path) or dict(self._keys)
            keys.setdefault(self._current, self._keys[self._current])
            key_id = _new_key_id()
            while key_id in keys:
                key_id = _new_key_id()
            candidate = KeyRing(
                current=key_id,
                keys={**keys, key_id: AESGCM.generate_key(bit_length=256)},
                hmac_key=self._hmac_key,
            )
            _replace_key_file(path, candidate)
        # Only now, with the new key safely on disk, start sealing with it.
        self._adopt(candidate)
        return key_id

    def retire(self, path: Path) -> list[str]:
        """Drop every key but the current one from the ring and ``path``; returns their ids.

        Only after ``Store.rotate_key`` has returned: values still sealed with a
        retired key can no longer be opened. Until then an old backup of the
        database stays readable with the current key file.

        Retires nothing (returns ``[]``) when the file's current key is no longer this
        ring's: someone rotated again, and values may soon be sealed with that key."""
        retired = sorted(self._keys.keys() - {self._current})
        if not retired:
            return []
        with _locked_dir(path.parent):
            on_disk = KeyRing._read(path)
            if on_disk._current != self._current:
                return []
            candidate = KeyRing(
                current=self._current,
                keys={self._current: self._keys[self._current]},
                hmac_key=self._hmac_key,
            )
            _replace_key_file(path, candidate)
        self._adopt(candidate)
        return retired

    # -- values --------------------------------------------------------------

    @property
    def current(self) -> str:
        return self._current

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def current_prefix(self) -> bytes:
        """The leading bytes of every value sealed with the current key (for SQL scans)."""
        return self._prefix

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        prefix, aead = self._sealer  # one read: a reload never mixes two keys
        nonce = os.urandom(NONCE_BYTES)
        return prefix + nonce + aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, *, aad: bytes) -> bytes:
        key_id, body_at = _parse_header(blob)
        aead = self._aead.get(key_id)
        if aead is None:
            raise UnknownKey(f"a stored value was sealed with key {key_id!r}, not in the key file")
        nonce = blob[body_at : body_at + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, blob[body_at + NONCE_BYTES :], aad)
        except InvalidTag:
            raise StoreError(
                "a stored value failed authentication (altered, or moved from another row)"
            ) from None

    def lookup_hash(self, value: str) -> bytes:
        return hmac.new(self._hmac_key, value.encode(), hashlib.sha256).digest()

    # -- internals -------------------------------------------------------------

    def _adopt(self, other: KeyRing) -> None:
        # New keys become openable before anything is sealed with them.
        self._aead = {**self._aead, **other._aead}
        self._keys = other._keys
        self._set_current(other._current)
        self._aead = other._aead

    def _set_current(self, key_id: str) -> None:
        encoded = key_id.encode()
        self._prefix = bytes((BLOB_VERSION, len(encoded))) + encoded
        self._sealer = (self._prefix, self._aead[key_id])
        self._current = key_id

    def _on_disk(self, path: Path) -> dict[str, bytes]:
        """The keys in ``path`` now (none if it is absent); refuses another gateway's file."""
        if not path.exists():
            return {}
        on_disk = KeyRing._read(path)
        if not hmac.compare_digest(on_disk._hmac_key, self._hmac_key):
            raise KeyFileError(
                f"key file {path} belongs to another gateway (its lookup key differs)"
            )
        return on_disk._keys

    def _to_json(self) -> bytes:
        document = {
            "version": KEY_FILE_VERSION,
            "current": self._current,
            "keys": {key_id: _b64(key) for key_id, key in self._keys.items()},
            "hmac": _b64(self._hmac_key),
        }
        return json.dumps(document, indent=2).encode() + b"\n"

    @classmethod
    def _from_json(cls, raw: bytes, path: Path) -> KeyRing:
        try:
            document: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KeyFileError(f"key file {path} is not valid JSON") from None
        if not isinstance(document, dict):
            raise KeyFileError(f"key file {path} is not a JSON object")
        if document.get("version") != KEY_FILE_VERSION:
            raise KeyFileError(
                f"key file {path} has version {document.get('version')!r}; "
                f"expected {KEY_FILE_VERSION}"
            )
        current = document.get("current")
        keys = document.get("keys")
        if not isinstance(current, str) or not isinstance(keys, dict) or current not in keys:
            raise KeyFileError(f"key file {path} has no valid 'current' key among 'keys'")
        decoded: dict[str, bytes] = {}
        for key_id, encoded in keys.items():
            if not isinstance(key_id, str) or not 0 < len(key_id.encode()) < 256:
                raise KeyFileError(f"key file {path} has an invalid key id")
            decoded[key_id] = _unb64(encoded, path, f"keys.{key_id}")
        hmac_key = _unb64(document.get("hmac"), path, "hmac")
        return cls(current=current, keys=decoded, hmac_key=hmac_key)


def _parse_header(blob: bytes) -> tuple[str, int]:
    if len(blob) < 2 or blob[0] != BLOB_VERSION:
        raise StoreError("a stored value has an unknown format")
    id_end = 2 + blob[1]
    if len(blob) < id_end + NONCE_BYTES + 16:
        raise StoreError("a stored value is truncated")
    try:
        return blob[2:id_end].decode(), id_end
    except UnicodeDecodeError:
        raise StoreError("a stored value has an unknown format") from None


def key_id_of(blob: bytes) -> str:
    return _parse_header(blob)[0]


def _new_key_id() -> str:
    return secrets.token_hex(_KEY_ID_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object, path: Path, name: str) -> bytes:
    if not isinstance(value, str):
        raise KeyFileError(f"key file {path}: '{name}' is missing or not a string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"key file {path}: '{name}' is not base64") from None
    if len(data) != KEY_BYTES:
        raise KeyFileError(f"key file {path}: '{name}' is not {KEY_BYTES} bytes")
    return data


def _write_private_temp(path: Path, content: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from exc
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        tmp.unlink()
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from exc
    os.close(fd)
    return tmp


def _replace_key_file(path: Path, ring: KeyRing) -> None:
    tmp = _write_private_temp(path, ring._to_json())
    try:
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise KeyFileError(f"cannot replace key file {path}: {exc.strerror}") from exc
    fsync_dir(path.parent)


@contextlib.contextmanager
def _locked_dir(directory: Path) -> Iterator[None]:
    """Serialise read-modify-write of key files in ``directory`` across processes.

    The directory itself is locked: the file is replaced by rename, so a lock on it
    would be lost with the old inode, and a lock file would litter the directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise KeyFileError(f"cannot open key directory {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def fsync_dir(directory: Path) -> None:
    """Make a new or replaced name in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
