"""A keyring in one local file, sealed by a passphrase (the embedded default).

The file is JSON: scrypt parameters and salt, and an AES-256-GCM sealed payload holding the
KEK versions and signing keys. It is created with mode 0600 and replaced atomically; a
lock file serialises writers across processes. Losing the passphrase loses every key:
production deployments use an HSM (PKCS#11) instead.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from callvault.core.errors import DecryptionFailed, Invalid
from callvault.crypto.gcm import Gcm
from callvault.crypto.keyrings.base import WRAP_FORMAT_VERSION, UnknownKey, wrapped_kek_version

__all__ = ["LocalKeyring"]

_FILE_FORMAT = "callvault-keyring/1"
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


class LocalKeyring:
    """KEKs in a passphrase-sealed file. Thread-compatible; process-safe for writes."""

    def __init__(
        self, path: Path, passphrase: str, *, scrypt_n: int = _SCRYPT_N, derived: dict[bytes, bytes] | None = None
    ) -> None:
        if not passphrase:
            raise Invalid("The local keyring needs a master key", code="keyring.no_master_key")
        self._path = path
        self._passphrase = passphrase.encode()
        self._scrypt_n = scrypt_n
        self._derived: dict[bytes, bytes] = dict(derived or {})  # scrypt salt -> key
        self._payload: dict[str, Any] = {"keks": {}, "signing": {}}
        self._ciphers: dict[tuple[str, int], Gcm] = {}
        self._signers: dict[str, tuple[str, Ed25519PrivateKey]] = {}  # key ref -> (stored form, key)
        self._mtime_ns = -1
        self._checked_at = 0.0
        if path.exists():
            self._load()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle as "how to open it" for worker processes: the path, the passphrase and
        the scrypt results already derived from it (a worker would otherwise spend ~0.1 s
        of CPU re-deriving them; they are no more secret than the passphrase itself)."""
        return {
            "path": self._path,
            "passphrase": self._passphrase,
            "scrypt_n": self._scrypt_n,
            "derived": dict(self._derived),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"], state["passphrase"].decode(), scrypt_n=state["scrypt_n"], derived=state.get("derived")
        )

    # -- file handling -----------------------------------------------------------------
    def _derive(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        cached = self._derived.get(salt)
        if cached is None:
            cached = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self._passphrase)
            self._derived[salt] = cached
        return cached

    def _load(self) -> None:
        stat = self._path.stat()
        if stat.st_mtime_ns == self._mtime_ns:
            return
        doc = json.loads(self._path.read_text())
        if doc.get("format") != _FILE_FORMAT:
            raise Invalid("Unknown keyring file format", code="keyring.bad_format")
        kdf = doc["kdf"]
        key = self._derive(_unb64(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
        try:
            plain = AESGCM(key).decrypt(_unb64(doc["nonce"]), _unb64(doc["ciphertext"]), b"keyring")
        except InvalidTag:
            raise DecryptionFailed(
                "The keyring cannot be opened with this master key", code="keyring.bad_master_key"
            ) from None
        self._payload = json.loads(plain)
        self._ciphers.clear()
        self._mtime_ns = stat.st_mtime_ns

    def _save(self) -> None:
        salt = os.urandom(16)
        key = self._derive(salt, self._scrypt_n, _SCRYPT_R, _SCRYPT_P)
        nonce = os.urandom(12)
        body = AESGCM(key).encrypt(nonce, json.dumps(self._payload).encode(), b"keyring")
        doc = {
            "format": _FILE_FORMAT,
            "kdf": {"name": "scrypt", "n": self._scrypt_n, "r": _SCRYPT_R, "p": _SCRYPT_P, "salt": _b64(salt)},
            "nonce": _b64(nonce),
            "ciphertext": _b64(body),
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        self._mtime_ns = self._path.stat().st_mtime_ns

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(self._path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            if self._path.exists():
                self._mtime_ns = -1
                self._load()
            yield self._payload
            self._save()
            self._ciphers.clear()
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def _kek(self, kek_ref: str) -> dict[str, Any]:
        entry = self._payload["keks"].get(kek_ref)
        if entry is None and self._path.exists():
            self._load()
            entry = self._payload["keks"].get(kek_ref)
        if entry is None:
            raise UnknownKey()
        return entry  # type: ignore[no-any-return]

    def _cipher(self, kek_ref: str, version: int) -> Gcm:
        cipher = self._ciphers.get((kek_ref, version))
        if cipher is None:
            raw = self._kek(kek_ref)["versions"].get(str(version))
            if raw is None:
                self._load()
                raw = self._kek(kek_ref)["versions"].get(str(version))
            if raw is None:
                raise UnknownKey()
            cipher = Gcm(_unb64(raw))
            self._ciphers[(kek_ref, version)] = cipher
        return cipher

    # -- Keyring protocol ----------------------------------------------------------------
    def create_kek(self, kek_ref: str) -> int:
        with self._writing() as payload:
            entry = payload["keks"].setdefault(kek_ref, {"current": 0, "versions": {}})
            version = int(entry["current"]) + 1
            entry["versions"][str(version)] = _b64(AESGCM.generate_key(bit_length=256))
            entry["current"] = version
        return version

    def current_version(self, kek_ref: str) -> int:
        if self._path.exists():
            self._load()
        return int(self._kek(kek_ref)["current"])

    def versions(self, kek_ref: str) -> list[int]:
        return sorted(int(v) for v in self._kek(kek_ref)["versions"])

    def wrap(self, kek_ref: str, key: bytes, aad: bytes) -> bytes:
        # Another process may have rotated: re-read the file (at most every 100 ms) so new
        # keys are sealed under the version a rotation will keep.
        now = time.monotonic()
        if now - self._checked_at > 0.1 and self._path.exists():
            self._load()
            self._checked_at = now
        version = int(self._kek(kek_ref)["current"])
        nonce = os.urandom(12)
        body = self._cipher(kek_ref, version).encrypt(nonce, key, aad)
        return bytes((WRAP_FORMAT_VERSION,)) + version.to_bytes(4, "big") + nonce + body

    def unwrap(self, kek_ref: str, wrapped: bytes, aad: bytes) -> bytes:
        version = wrapped_kek_version(wrapped)
        if len(wrapped) < 17:
            raise DecryptionFailed()
        return self._cipher(kek_ref, version).decrypt(wrapped[5:17], wrapped[17:], aad)

    def retire(self, kek_ref: str, version: int) -> None:
        with self._writing() as payload:
            entry = payload["keks"].get(kek_ref)
            if entry is None:
                raise UnknownKey()
            if version == int(entry["current"]):
                raise Invalid("The current KEK version cannot be retired", code="keyring.retire_current")
            entry["versions"].pop(str(version), None)

    def destroy(self, kek_ref: str) -> None:
        with self._writing() as payload:
            payload["keks"].pop(kek_ref, None)

    def _signing_key(self, key_ref: str) -> Ed25519PrivateKey:
        raw = self._payload["signing"].get(key_ref)
        if raw is None:
            with self._writing() as payload:
                raw = payload["signing"].get(key_ref)
                if raw is None:
                    raw = _b64(Ed25519PrivateKey.generate().private_bytes_raw())
                    payload["signing"][key_ref] = raw
        cached = self._signers.get(key_ref)
        if cached is not None and cached[0] == raw:
            return cached[1]
        key = Ed25519PrivateKey.from_private_bytes(_unb64(raw))  # ~75 µs: not once per signature
        self._signers[key_ref] = (raw, key)
        return key

    def sign(self, key_ref: str, message: bytes) -> bytes:
        return self._signing_key(key_ref).sign(message)

    def public_key(self, key_ref: str) -> bytes:
        return self._signing_key(key_ref).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
