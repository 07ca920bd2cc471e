"""AES-256-GCM field format.

A sealed field is ``version (1) | key id (16) | nonce (12) | ciphertext | tag (16)``.
The header is authenticated together with the field context (tenant, table, column,
record id), so a ciphertext copied to another row, column or tenant fails to open, and so
does one whose header was edited.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from callvault.crypto.gcm import NONCE_LEN, Gcm

__all__ = [
    "FIELD_FORMAT_VERSION",
    "FieldContext",
    "open_columns",
    "open_field",
    "open_fields",
    "seal_field",
    "seal_fields",
]

FIELD_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FieldContext:
    """Where a value lives; bound into the ciphertext as associated data."""

    tenant_id: str
    table: str
    column: str
    record_id: str


def _encode_part(part: str) -> bytes:
    raw = part.encode()
    return len(raw).to_bytes(2, "big") + raw


def _encode_parts(*parts: str) -> bytes:
    return b"".join(map(_encode_part, parts))


@lru_cache(maxsize=4096)
def _aad_prefixes(tenant_id: str, table: str, columns: tuple[str, ...]) -> list[bytes]:
    """The column part of each field's associated data (a record's columns come in a few
    fixed sets, so the list is built once per set)."""
    return [b"callvault/field/v1" + _encode_parts(tenant_id, table, column) for column in columns]


def seal_field(cipher: Gcm, key_id: uuid.UUID, value: str, context: FieldContext) -> bytes:
    """Seal one column: ``seal_fields`` with one value."""
    return seal_fields(cipher, key_id, context.tenant_id, context.table, context.record_id, {context.column: value})[
        context.column
    ]


def seal_fields(
    cipher: Gcm, key_id: uuid.UUID, tenant_id: str, table: str, record_id: str, values: Mapping[str, str]
) -> dict[str, bytes]:
    """Seal several columns of one record, each bound to its place (tenant, table, column,
    record) and key id, in one call to the cipher (fresh random nonces)."""
    header = bytes((FIELD_FORMAT_VERSION,)) + key_id.bytes
    columns = tuple(values)
    sealed = cipher.seal_fields(
        header,
        _encode_part(record_id) + header,
        _aad_prefixes(tenant_id, table, columns),
        list(values.values()),
        os.urandom(NONCE_LEN * len(columns)),
    )
    return dict(zip(columns, sealed, strict=True))


def open_field(cipher: Gcm, key_id: uuid.UUID, sealed: bytes, context: FieldContext) -> str:
    """Open one column: ``open_fields`` with one value."""
    return open_fields(cipher, key_id, context.tenant_id, context.table, context.record_id, {context.column: sealed})[
        context.column
    ]


def open_fields(
    cipher: Gcm, key_id: uuid.UUID, tenant_id: str, table: str, record_id: str, sealed: Mapping[str, bytes]
) -> dict[str, str]:
    """Open several columns of one record in one call to the cipher (DecryptionFailed if
    any one fails: wrong key id or format version in its header, too short, or bound to
    another place)."""
    columns = tuple(sealed)
    opened = open_columns(cipher, key_id.bytes, tenant_id, table, record_id, columns, list(sealed.values()))
    return dict(zip(columns, cast(list[str], opened), strict=True))  # no None went in


def open_columns(
    cipher: Gcm,
    key_id: bytes,
    tenant_id: str,
    table: str,
    record_id: str,
    columns: tuple[str, ...],
    sealed: Sequence[bytes | None],
) -> list[str | None]:
    """``open_fields`` with the columns and their values as two sequences and the key id
    as its 16 bytes: what a bulk reader (an export) has at hand, without a dict and a UUID
    per record. An empty column (``None``) opens as ``None``."""
    header = bytes((FIELD_FORMAT_VERSION,)) + key_id
    prefixes = _aad_prefixes(tenant_id, table, columns)
    return cipher.open_fields(header, _encode_part(record_id) + header, prefixes, sealed)
