"""Blind indexes: keyed, truncated HMAC-SHA256 of normalised values.

Each tenant has one random index root key (wrapped by its KEK, like a DEK). Per field,
HKDF-SHA256 derives a separate HMAC key, so equal values in two fields or two tenants give
unrelated digests and the index leaks only equality within one field of one tenant.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from callvault.crypto.keyrings.base import Keyring, wrapped_kek_version

__all__ = [
    "FULL_DIGEST_BYTES",
    "SUFFIX_DIGEST_BYTES",
    "BlindIndexer",
    "new_index_root",
    "open_index_root",
    "rewrap_index_root",
]

FULL_DIGEST_BYTES = 16
"""128 bits: collisions are negligible for any tenant size."""
SUFFIX_DIGEST_BYTES = 8
"""Suffix indexes (phone last 4) have tiny domains; truncation is for size, not secrecy."""


def _hkdf_sha256(ikm: bytes, *, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256 with an empty salt."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(ikm)


def _wrap_aad(tenant_id: str) -> bytes:
    return b"callvault/index-root/v1|" + tenant_id.encode()


def new_index_root(keyring: Keyring, kek_ref: str, tenant_id: str) -> tuple[int, bytes]:
    """A new random root key, wrapped: ``(kek_version, blob)``."""
    blob = keyring.wrap(kek_ref, os.urandom(32), _wrap_aad(tenant_id))
    return wrapped_kek_version(blob), blob


def rewrap_index_root(keyring: Keyring, kek_ref: str, tenant_id: str, blob: bytes) -> tuple[int, bytes]:
    aad = _wrap_aad(tenant_id)
    new_blob = keyring.wrap(kek_ref, keyring.unwrap(kek_ref, blob, aad), aad)
    return wrapped_kek_version(new_blob), new_blob


def open_index_root(keyring: Keyring, kek_ref: str, tenant_id: str, blob: bytes) -> BlindIndexer:
    return BlindIndexer(keyring.unwrap(kek_ref, blob, _wrap_aad(tenant_id)))


_BLOCK = 64
_INNER_PAD = bytes.maketrans(bytes(range(256)), bytes(b ^ 0x36 for b in range(256)))
_OUTER_PAD = bytes.maketrans(bytes(range(256)), bytes(b ^ 0x5C for b in range(256)))


class BlindIndexer:
    """Digests for one tenant; field keys are derived once and cached.

    Per field, the HMAC's keyed inner and outer SHA-256 states (RFC 2104: the hash after
    absorbing ``key ⊕ ipad`` and ``key ⊕ opad``) are kept and copied for each value, so a
    digest costs two compressions and no key setup: a quarter of ``hmac.digest``'s time
    on the short values indexes hold. The digests are HMAC-SHA256's, bit for bit (tests
    compare them with ``hmac.digest``)."""

    __slots__ = ("_field_keys", "_root", "_states")

    def __init__(self, root: bytes) -> None:
        self._root = root
        self._field_keys: dict[str, bytes] = {}
        self._states: dict[str, tuple[hashlib._Hash, hashlib._Hash]] = {}

    def _field_key(self, field: str) -> bytes:
        key = self._field_keys.get(field)
        if key is None:
            key = _hkdf_sha256(self._root, info=b"callvault/blind-index/v1|" + field.encode(), length=32)
            self._field_keys[field] = key
        return key

    def _field_states(self, field: str) -> tuple[hashlib._Hash, hashlib._Hash]:
        states = self._states.get(field)
        if states is None:
            block = self._field_key(field).ljust(_BLOCK, b"\0")  # 32-byte keys: never hashed first
            states = hashlib.sha256(block.translate(_INNER_PAD)), hashlib.sha256(block.translate(_OUTER_PAD))
            self._states[field] = states
        return states

    def digest(self, field: str, value: str, *, size: int = FULL_DIGEST_BYTES) -> bytes:
        """Truncated HMAC-SHA256 of an already normalised value."""
        inner_state, outer_state = self._states.get(field) or self._field_states(field)
        inner = inner_state.copy()
        inner.update(value.encode())
        outer = outer_state.copy()
        outer.update(inner.digest())
        return outer.digest()[:size]

    def __repr__(self) -> str:
        return "BlindIndexer(<hidden>)"
