"""Encrypted columns: per-subject data keys, field sealing and blind indexes.

The only bridge between stored rows and ``callvault.crypto``. Unwrapped data keys and
tenant indexers are cached per runtime (bounded), so a read costs one AES-GCM open per
field and no keyring round trip; erasing a subject evicts its key.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from callvault.access.identity.models import Tenant
from callvault.core import clock
from callvault.core.db import bulk_insert
from callvault.core.errors import DecryptionFailed, NotFound
from callvault.core.runtime import Runtime, runtime_of
from callvault.crypto import (
    SUFFIX_DIGEST_BYTES,
    BlindIndexer,
    DataKey,
    FieldContext,
    new_data_key,
    open_data_key,
    open_index_root,
    rewrap_data_key,
    rewrap_index_root,
)
from callvault.vault.fields.models import SubjectKey

__all__ = [
    "TenantKeys",
    "destroy_subject_key",
    "destroy_subject_keys",
    "new_subject_keys",
    "open_subject_key",
    "rotate_tenant_kek",
    "tenant_keys",
    "time_ordered_uuid",
]

_DEK_CACHE_SIZE = 20_000


def time_ordered_uuid() -> uuid.UUID:
    """UUIDv7 layout (48-bit ms time, random rest): index-friendly and unguessable."""
    import os

    millis = int(clock.now().timestamp() * 1000)
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(raw))


@dataclass(frozen=True, slots=True)
class TenantKeys:
    """A tenant's key material handles: its KEK reference and blind indexer."""

    tenant_id: str
    kek_ref: str
    indexer: BlindIndexer

    def index(self, field: str, value: str) -> bytes:
        return self.indexer.digest(field, value)

    def index_suffix(self, field: str, value: str) -> bytes:
        return self.indexer.digest(field, value, size=SUFFIX_DIGEST_BYTES)

    def context(self, table: str, column: str, record_id: uuid.UUID) -> FieldContext:
        return FieldContext(self.tenant_id, table, column, str(record_id))


def _dek_cache(runtime: Runtime) -> OrderedDict[tuple[str, uuid.UUID], DataKey]:
    cache: OrderedDict[tuple[str, uuid.UUID], DataKey] = runtime.caches.setdefault("dek", OrderedDict())
    return cache


def tenant_keys(*, db_session: Session, tenant_id: str) -> TenantKeys:
    runtime = runtime_of(db_session)
    tenant = db_session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found", code="tenant.not_found")
    cache: dict[tuple[str, bytes], TenantKeys] = runtime.caches.setdefault("tenant_keys", {})
    cache_key = (tenant_id, tenant.index_key_wrapped)
    keys = cache.get(cache_key)
    if keys is None:
        indexer = open_index_root(runtime.keyring, tenant.kek_ref, tenant_id, tenant.index_key_wrapped)
        keys = TenantKeys(tenant_id, tenant.kek_ref, indexer)
        cache[cache_key] = keys
    return keys


def new_subject_keys(*, db_session: Session, keys: TenantKeys, count: int) -> list[DataKey]:
    """``count`` fresh data keys, their wrapped rows added to the session's transaction."""
    runtime = runtime_of(db_session)
    now = clock.now()
    handles: list[DataKey] = []
    rows: list[dict[str, object]] = []
    for _ in range(count):
        key_id = time_ordered_uuid()
        handle, wrapped = new_data_key(runtime.keyring, keys.kek_ref, keys.tenant_id, key_id)
        handles.append(handle)
        rows.append(
            {
                "tenant_id": keys.tenant_id,
                "id": key_id,
                "kek_version": wrapped.kek_version,
                "wrapped_dek": wrapped.blob,
                "created_at": now,
            }
        )
    if rows:
        bulk_insert(db_session, cast(Table, SubjectKey.__table__), rows)
    return handles


def open_subject_key(*, db_session: Session, keys: TenantKeys, key_id: uuid.UUID) -> DataKey:
    runtime = runtime_of(db_session)
    cache = _dek_cache(runtime)
    cached = cache.get((keys.tenant_id, key_id))
    if cached is not None:
        cache.move_to_end((keys.tenant_id, key_id))
        return cached
    row = db_session.get(SubjectKey, (keys.tenant_id, key_id))
    if row is None or row.wrapped_dek is None:
        raise DecryptionFailed("The data key of this record was destroyed", code="crypto.key_destroyed")
    handle = open_data_key(runtime.keyring, keys.kek_ref, keys.tenant_id, key_id, row.wrapped_dek)
    cache[(keys.tenant_id, key_id)] = handle
    if len(cache) > _DEK_CACHE_SIZE:
        cache.popitem(last=False)
    return handle


def destroy_subject_key(*, db_session: Session, tenant_id: str, key_id: uuid.UUID) -> None:
    """Crypto-shred: the wrapped DEK is erased, so every copy of the subject's data is dead."""
    db_session.execute(
        update(SubjectKey)
        .where(SubjectKey.tenant_id == tenant_id, SubjectKey.id == key_id)
        .values(wrapped_dek=None, destroyed_at=clock.now())
    )
    _dek_cache(runtime_of(db_session)).pop((tenant_id, key_id), None)


def destroy_subject_keys(*, db_session: Session, tenant_id: str, key_ids: Iterable[uuid.UUID]) -> None:
    """``destroy_subject_key`` for many keys in one statement (bulk erasure, retention)."""
    ids = list(key_ids)
    if not ids:
        return
    db_session.execute(
        update(SubjectKey)
        .where(SubjectKey.tenant_id == tenant_id, SubjectKey.id.in_(ids))
        .values(wrapped_dek=None, destroyed_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    cache = _dek_cache(runtime_of(db_session))
    for key_id in ids:
        cache.pop((tenant_id, key_id), None)


def rotate_tenant_kek(
    runtime: Runtime,
    tenant_id: str,
    *,
    batch_size: int = 1000,
    grace_seconds: float = 2.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """New KEK version, rewrap every DEK and the index root, then retire old versions.

    Each batch commits on its own; readers keep working throughout because every old
    version stays able to unwrap until the last batch is done. Returns
    ``(new_version, rewrapped_count)``. Safe to re-run after an interruption.
    """
    from callvault.core.db import tenant_session

    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("Tenant not found", code="tenant.not_found")
        kek_ref = tenant.kek_ref
        total = (
            db_session.query(SubjectKey)
            .filter(SubjectKey.tenant_id == tenant_id, SubjectKey.wrapped_dek.is_not(None))
            .count()
        )
    version = runtime.keyring.create_kek(kek_ref)

    def rewrap_pass(done: int) -> int:
        while True:
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                batch = list(
                    db_session.execute(
                        select(SubjectKey.id, SubjectKey.wrapped_dek)
                        .where(
                            SubjectKey.tenant_id == tenant_id,
                            SubjectKey.kek_version < version,
                            SubjectKey.wrapped_dek.is_not(None),
                        )
                        .limit(batch_size)
                    )
                )
                for key_id, blob in _non_null(batch):
                    wrapped = rewrap_data_key(runtime.keyring, kek_ref, tenant_id, key_id, blob)
                    db_session.execute(
                        update(SubjectKey)
                        .where(SubjectKey.tenant_id == tenant_id, SubjectKey.id == key_id)
                        .values(kek_version=wrapped.kek_version, wrapped_dek=wrapped.blob)
                    )
            done += len(batch)
            if on_progress:
                on_progress(done, max(total, done))
            if len(batch) < batch_size:
                return done

    done = rewrap_pass(0)
    # Writers that read the keyring just before the new version appeared may still commit
    # keys sealed under the old one: wait out their window, then sweep again before retiring.
    time.sleep(grace_seconds)
    done = rewrap_pass(done)
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.index_key_version, tenant.index_key_wrapped = rewrap_index_root(
            runtime.keyring, kek_ref, tenant_id, tenant.index_key_wrapped
        )
    for old in runtime.keyring.versions(kek_ref):
        if old < version:
            runtime.keyring.retire(kek_ref, old)
    return version, done


def _non_null(rows: Iterable[tuple[uuid.UUID, bytes | None]]) -> Iterable[tuple[uuid.UUID, bytes]]:
    for key_id, blob in rows:
        if blob is not None:
            yield key_id, blob
