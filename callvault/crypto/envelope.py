"""Envelope encryption: per-subject data keys (DEKs) wrapped by the tenant KEK.

A ``DataKey`` is an opaque handle: it seals and opens fields but never hands out its bytes.
Wrapped DEKs are bound (as AAD) to the tenant and the key id, so a wrapped key copied to
another tenant or subject does not open. Rotation rewraps DEKs under the newest KEK
version without touching a single field ciphertext.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from callvault.crypto import aead
from callvault.crypto.aead import FieldContext
from callvault.crypto.gcm import Gcm
from callvault.crypto.keyrings.base import Keyring, wrapped_kek_version

__all__ = ["DataKey", "WrappedKey", "new_data_key", "open_data_key", "open_subject_columns", "rewrap_data_key"]


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK as stored: which KEK version sealed it, and the sealed bytes."""

    kek_version: int
    blob: bytes


class DataKey:
    """Handle on one subject's AES-256-GCM key."""

    __slots__ = ("_cipher", "_raw", "key_id")

    def __init__(self, key_id: uuid.UUID, raw: bytes) -> None:
        self.key_id = key_id
        self._cipher = Gcm(raw)
        self._raw = raw  # only for keys derived inside this package (crypto.stream)

    def seal(self, value: str, context: FieldContext) -> bytes:
        return aead.seal_field(self._cipher, self.key_id, value, context)

    def seal_many(self, tenant_id: str, table: str, record_id: str, values: Mapping[str, str]) -> dict[str, bytes]:
        """Seal several columns of one record (bound to it exactly as ``seal`` binds one)."""
        return aead.seal_fields(self._cipher, self.key_id, tenant_id, table, record_id, values)

    def open(self, sealed: bytes, context: FieldContext) -> str:
        return aead.open_field(self._cipher, self.key_id, sealed, context)

    def open_many(self, tenant_id: str, table: str, record_id: str, sealed: Mapping[str, bytes]) -> dict[str, str]:
        """Open several columns of one record (each bound as ``open`` checks one)."""
        return aead.open_fields(self._cipher, self.key_id, tenant_id, table, record_id, sealed)

    def __repr__(self) -> str:
        return f"DataKey({self.key_id})"


@lru_cache(maxsize=1024)
def _wrap_aad_prefix(tenant_id: str) -> bytes:
    return b"callvault/dek/v1|" + tenant_id.encode() + b"|"


def _wrap_aad(tenant_id: str, key_id: uuid.UUID | bytes) -> bytes:
    return _wrap_aad_prefix(tenant_id) + (key_id if isinstance(key_id, bytes) else key_id.bytes)


def new_data_key(keyring: Keyring, kek_ref: str, tenant_id: str, key_id: uuid.UUID) -> tuple[DataKey, WrappedKey]:
    """Fresh random DEK for a subject, and its wrapped form to store."""
    raw = os.urandom(32)
    blob = keyring.wrap(kek_ref, raw, _wrap_aad(tenant_id, key_id))
    return DataKey(key_id, raw), WrappedKey(wrapped_kek_version(blob), blob)


def open_data_key(keyring: Keyring, kek_ref: str, tenant_id: str, key_id: uuid.UUID, blob: bytes) -> DataKey:
    """Unwrap a stored DEK (DecryptionFailed if it belongs elsewhere or was altered)."""
    return DataKey(key_id, keyring.unwrap(kek_ref, blob, _wrap_aad(tenant_id, key_id)))


def open_subject_columns(
    keyring: Keyring,
    kek_ref: str,
    tenant_id: str,
    key_id: bytes,
    wrapped: bytes,
    table: str,
    record_id: str,
    columns: tuple[str, ...],
    sealed: Sequence[bytes | None],
) -> list[str | None]:
    """Unwrap a subject's data key and open columns of one of its records: ``open_data_key``
    then ``DataKey.open_many``, with the same checks, for a bulk reader (an export opens
    every field of every customer, each under a key of its own, so the handle, the dict
    and the UUID per record were a third of its crypto time). ``key_id`` is the id's 16
    bytes; an empty column (``None``) opens as ``None``."""
    cipher = Gcm(keyring.unwrap(kek_ref, wrapped, _wrap_aad(tenant_id, key_id)))
    return aead.open_columns(cipher, key_id, tenant_id, table, record_id, columns, sealed)


def rewrap_data_key(keyring: Keyring, kek_ref: str, tenant_id: str, key_id: uuid.UUID, blob: bytes) -> WrappedKey:
    """Re-seal a stored DEK under the current KEK version."""
    aad = _wrap_aad(tenant_id, key_id)
    new_blob = keyring.wrap(kek_ref, keyring.unwrap(kek_ref, blob, aad), aad)
    return WrappedKey(wrapped_kek_version(new_blob), new_blob)
