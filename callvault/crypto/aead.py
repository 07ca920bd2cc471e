"""AES-256-GCM field format.

A sealed field is ``version (1) | key id (16) | nonce (12) | ciphertext | tag (16)``.
The header is authenticated together with the field context (tenant, table, column,
record id), so a ciphertext copied to another row, column or tenant fails to open, and so
does one whose header was edited.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.core.errors import DecryptionFailed

__all__ = [
    "FIELD_FORMAT_VERSION",
    "FieldContext",
    "open_field",
    "open_fields",
    "seal_field",
    "seal_fields",
]

FIELD_FORMAT_VERSION = 1
_HEADER_LEN = 1 + 16
_NONCE_LEN = 12
_TAG_LEN = 16


@dataclass(frozen=True, slots=True)
class FieldContext:
    """Where a value lives; bound into the ciphertext as associated data."""

    tenant_id: str
    table: str
    column: str
    record_id: str


def _encode_parts(*parts: str) -> bytes:
    out = bytearray()
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(2, "big")
        out += raw
    return bytes(out)


@lru_cache(maxsize=4096)
def _aad_prefix(tenant_id: str, table: str, column: str) -> bytes:
    return b"callvault/field/v1" + _encode_parts(tenant_id, table, column)


def seal_field(cipher: AESGCM, key_id: uuid.UUID, value: str, context: FieldContext) -> bytes:
    """Seal one column: ``seal_fields`` with one value."""
    return seal_fields(cipher, key_id, context.tenant_id, context.table, context.record_id, {context.column: value})[
        context.column
    ]


def seal_fields(
    cipher: AESGCM, key_id: uuid.UUID, tenant_id: str, table: str, record_id: str, values: Mapping[str, str]
) -> dict[str, bytes]:
    """Seal several columns of one record, each bound to its place (tenant, table, column,
    record) and key id; the record part of the AAD and the nonces are prepared once."""
    header = bytes((FIELD_FORMAT_VERSION,)) + key_id.bytes
    record = _encode_parts(record_id) + header
    nonces = os.urandom(_NONCE_LEN * len(values))
    out: dict[str, bytes] = {}
    for position, (column, value) in enumerate(values.items()):
        nonce = nonces[position * _NONCE_LEN : (position + 1) * _NONCE_LEN]
        aad = _aad_prefix(tenant_id, table, column) + record
        out[column] = header + nonce + cipher.encrypt(nonce, value.encode(), aad)
    return out


def open_field(cipher: AESGCM, key_id: uuid.UUID, sealed: bytes, context: FieldContext) -> str:
    """Open one column: ``open_fields`` with one value."""
    return open_fields(cipher, key_id, context.tenant_id, context.table, context.record_id, {context.column: sealed})[
        context.column
    ]


def open_fields(
    cipher: AESGCM, key_id: uuid.UUID, tenant_id: str, table: str, record_id: str, sealed: Mapping[str, bytes]
) -> dict[str, str]:
    """Open several columns of one record (DecryptionFailed if any one fails: wrong key id
    or format version in its header, too short, or bound to another place); the expected
    header and the record part of the AAD are built once."""
    header = bytes((FIELD_FORMAT_VERSION,)) + key_id.bytes
    record = _encode_parts(record_id) + header
    body_start = _HEADER_LEN + _NONCE_LEN
    out: dict[str, str] = {}
    try:
        for column, value in sealed.items():
            if len(value) < body_start + _TAG_LEN or value[:_HEADER_LEN] != header:
                raise DecryptionFailed()
            plain = cipher.decrypt(
                value[_HEADER_LEN:body_start], value[body_start:], _aad_prefix(tenant_id, table, column) + record
            )
            out[column] = plain.decode()
    except (InvalidTag, UnicodeDecodeError):
        raise DecryptionFailed() from None
    return out
