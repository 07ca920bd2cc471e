"""Bulk import of customers from CSV or JSON lines, streamed.

Rows are validated one by one and written in batches, one transaction per batch (or one
for the whole file with ``strict``), so a crash never leaves a half-written row and a
re-run of the same file skips every external reference already stored. Bad rows are
reported by line, field and code and never stop the good ones unless ``strict``.
"""

from __future__ import annotations

import csv
import itertools
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import ValidationError
from sqlalchemy import Connection, Table, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.identity.service import get_tenant_or_raise
from callvault.access.pdp import Decision, Resource, enforce
from callvault.audit.log import build_event, writer_for
from callvault.audit.models import AuditEvent
from callvault.core import clock
from callvault.core.db import insert_tuples, is_postgres, set_tenant
from callvault.core.errors import Invalid
from callvault.core.runtime import Runtime, runtime_of
from callvault.crypto import Keyring, new_data_key, open_index_root
from callvault.vault.customers.models import ENCRYPTED_FIELDS, Customer
from callvault.vault.customers.schemas import CustomerCreate, ImportError_, ImportReport
from callvault.vault.customers.service import sealed_row
from callvault.vault.fields.service import TenantKeys, tenant_keys, time_ordered_uuid

__all__ = ["MAX_REPORTED_ERRORS", "ImportFormat", "import_customers"]

ImportFormat = Literal["csv", "jsonl"]
MAX_REPORTED_ERRORS = 1000
_FIELDS = frozenset(CustomerCreate.model_fields)
_PLAIN_FIELDS = ("membership_level", "assigned_agent", "region", "external_ref")


class _RowError(Exception):
    def __init__(self, field: str | None, code: str) -> None:
        self.field = field
        self.code = code

    def __reduce__(self) -> tuple[type[_RowError], tuple[str | None, str]]:
        return (_RowError, (self.field, self.code))


_RawRow = str | dict[str, Any] | _RowError
"""A JSON line (validated later, maybe in a worker), a CSV row, or a parse error."""


def _decoded(lines: Iterable[bytes], errors: list[tuple[int, _RowError]]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            errors.append((number, _RowError(None, "encoding.invalid")))
            continue
        yield number, text


def _jsonl_rows(lines: Iterable[bytes]) -> Iterator[tuple[int, _RawRow]]:
    pending: list[tuple[int, _RowError]] = []
    for number, text in _decoded(lines, pending):
        while pending:
            yield pending.pop(0)
        if not text.strip():
            continue
        yield number, text
    while pending:
        yield pending.pop(0)


_COLUMN_NAME = re.compile(r"[a-z][a-z_]{0,39}")


def _csv_rows(lines: Iterable[bytes]) -> Iterator[tuple[int, _RawRow]]:
    pending: list[tuple[int, _RowError]] = []
    numbered = _decoded(lines, pending)
    current = [0]

    def texts() -> Iterator[str]:
        for number, text in numbered:
            current[0] = number
            yield text

    reader = csv.reader(texts())
    header = next(reader, None)
    if header is None or pending:
        # no header line, or one that is not text: never "0 rows, 0 errors" for a file we could not read
        raise Invalid(
            "The file has no CSV header line naming its columns (e.g. external_ref,name,mobile)",
            code="import.no_header",
        )
    header = [name.strip() for name in header]
    unknown = sorted(set(header) - _FIELDS)
    if unknown:
        # name the columns only when they look like column names: a headerless file's first
        # row is personal data, which an error message must never repeat
        named = [name for name in unknown if _COLUMN_NAME.fullmatch(name)]
        detail = "Unknown CSV columns: " + ", ".join(named) if len(named) == len(unknown) else "Unknown CSV columns"
        raise Invalid(detail + " (is the header line missing?)", code="import.unknown_columns")
    if "external_ref" not in header:
        raise Invalid("The CSV header must name an external_ref column", code="import.no_external_ref")
    for values in reader:
        while pending:
            yield pending.pop(0)
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield current[0], _RowError(None, "csv.column_count")
            continue
        yield current[0], {name: value for name, value in zip(header, values, strict=True) if value.strip()}
    while pending:
        yield pending.pop(0)


_JSON_CODES = {
    "json_invalid": "json.invalid",
    "model_type": "json.not_object",
    "model_attributes_type": "json.not_object",
}


def _validate(row: str | dict[str, Any]) -> CustomerCreate | _RowError:
    try:
        customer = (
            CustomerCreate.model_validate_json(row) if isinstance(row, str) else CustomerCreate.model_validate(row)
        )
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False, include_context=False)[0]
        loc = first["loc"]
        code = str(first["type"])
        if code in _JSON_CODES and not loc:
            return _RowError(None, _JSON_CODES[code])
        return _RowError(str(loc[0]) if loc else None, code)
    if customer.external_ref is None:
        return _RowError("external_ref", "import.external_ref_required")
    return customer


_KEY_COLUMNS = ("tenant_id", "id", "kek_version", "wrapped_dek", "created_at")
_SEALED_COLUMNS = (
    *(f"{name}_ct" for name in ENCRYPTED_FIELDS), "mobile_bidx", "mobile_last4_bidx", "id_number_bidx", "email_bidx",
)  # fmt: skip
_CUSTOMER_COLUMNS = (
    "tenant_id", "id", "subject_key_id", "retention_class", "legal_hold", "created_at", "updated_at", "version",
    *_PLAIN_FIELDS, *_SEALED_COLUMNS,
)  # fmt: skip


@dataclass
class _Prepared:
    """A batch ready to store: rows as insert-ready tuples (``_CUSTOMER_COLUMNS``,
    ``_KEY_COLUMNS``; UUIDs already in the column's stored form) plus, per customer, its
    external reference and id, and the bad lines. Workers do all per-row work, so the
    process holding the database transaction only filters and inserts."""

    customers: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    errors: list[tuple[int, _RowError]] = field(default_factory=list)


def _prepare(
    keys: TenantKeys, keyring: Keyring, items: list[tuple[int, _RawRow]], *, uuid_hex: bool = False
) -> _Prepared:
    """Validate, key and seal one batch (the CPU-heavy part; runs in workers when large).
    ``uuid_hex``: the database stores UUIDs as 32 hex digits (SQLite), else as UUIDs."""
    prepared = _Prepared()
    now = clock.now()
    tenant_id = keys.tenant_id
    for line, raw in items:
        result = raw if isinstance(raw, _RowError) else _validate(raw)
        if isinstance(result, _RowError):
            prepared.errors.append((line, result))
            continue
        key_id, customer_id = time_ordered_uuid(), time_ordered_uuid()
        dek, wrapped = new_data_key(keyring, keys.kek_ref, tenant_id, key_id)
        values = result.model_dump()
        sealed = sealed_row(keys, dek, customer_id, values)
        stored_key: Any = key_id.hex if uuid_hex else key_id
        prepared.keys.append((tenant_id, stored_key, wrapped.kek_version, wrapped.blob, now))
        prepared.customers.append((
            tenant_id, customer_id.hex if uuid_hex else customer_id, stored_key, "standard", False, now, now, 1,
            *[values[name] for name in _PLAIN_FIELDS], *[sealed.get(column) for column in _SEALED_COLUMNS],
        ))  # fmt: skip
        prepared.refs.append(values["external_ref"])
        prepared.ids.append(str(customer_id))
    return prepared


def _existing_refs(db_session: Session, tenant_id: str, refs: list[str]) -> dict[str, str]:
    """External references of ``refs`` already stored for the tenant, with their ids."""
    if not refs:
        return {}
    if is_postgres(db_session):
        # A join on the unique index whatever the statistics say: during a bulk load they
        # are stale, and a plain IN list was planned as a scan of the whole tenant.
        rows = db_session.execute(
            sql_text(
                "SELECT c.external_ref, c.id FROM unnest(CAST(:refs AS varchar[])) AS r(ref) "
                "JOIN customer c ON c.tenant_id = :tenant AND c.external_ref = r.ref"
            ),
            {"refs": refs, "tenant": tenant_id},
        )
    else:
        rows = db_session.execute(
            select(Customer.external_ref, Customer.id).where(
                Customer.tenant_id == tenant_id, Customer.external_ref.in_(refs)
            )
        )
    return {str(ref): str(customer_id) for ref, customer_id in rows}


def _without_create_event(db_session: Session, tenant_id: str, customer_ids: list[str]) -> list[str]:
    """Those of ``customer_ids`` whose ``customer.create`` event is missing: customers an
    import before events committed with their batch stored but never logged (a crash
    between the two commits). Only skipped rows are checked, so a first run pays nothing."""
    if not customer_ids:
        return []
    logged = set(
        db_session.scalars(
            select(AuditEvent.subject_id).where(
                AuditEvent.tenant_id == tenant_id,
                AuditEvent.subject_id.in_(customer_ids),
                AuditEvent.action == "customer.create",
            )
        )
    )
    return [customer_id for customer_id in customer_ids if customer_id not in logged]


def _store(db_session: Session, tenant_id: str, prepared: _Prepared, report: ImportReport) -> list[str]:
    """Insert what is not stored yet (by external reference) in the session's transaction;
    returns the ids of the customers that need a ``customer.create`` event: those created
    now, and skipped ones that never got theirs."""
    existing = _existing_refs(db_session, tenant_id, prepared.refs)
    skipped = list(existing.values())
    customers, keys, created = prepared.customers, prepared.keys, prepared.ids
    if existing or len(set(prepared.refs)) != len(prepared.refs):
        customers, keys, created = [], [], []
        for position, ref in enumerate(prepared.refs):
            if ref in existing:
                report.skipped_existing += 1
                continue
            existing[ref] = prepared.ids[position]
            customers.append(prepared.customers[position])
            keys.append(prepared.keys[position])
            created.append(prepared.ids[position])
    insert_tuples(db_session, "subject_key", _KEY_COLUMNS, keys)
    insert_tuples(db_session, "customer", _CUSTOMER_COLUMNS, customers)
    report.imported += len(customers)
    return _without_create_event(db_session, tenant_id, skipped) + created


def _record_created(db_session: Session, actor: Actor, decision: Decision, customer_ids: list[str]) -> None:
    """One ``customer.create`` audit event per imported customer, so each subject's access
    report starts with its creation. Written in the batch's own transaction: the log never
    claims a customer that was rolled back, and a crash never leaves a customer unlogged."""
    template = build_event(
        actor=actor,
        action="customer.create",
        resource=Resource(type="customer", tenant_id=actor.tenant_id),
        decision=decision,
        purpose="bulk import",
    )
    writer_for(runtime_of(db_session)).append_like_in(db_session, template, customer_ids)


# -- worker processes -------------------------------------------------------------------
_worker_state: dict[str, Any] = {}


def _worker_init(keyring: Keyring) -> None:
    _worker_state["keyring"] = keyring


def _worker_prepare(tenant: tuple[str, str, bytes, bool], items: list[tuple[int, _RawRow]]) -> _Prepared:
    tenant_id, kek_ref, index_wrapped, uuid_hex = tenant
    keyring: Keyring = _worker_state["keyring"]
    keys = _worker_state.get(tenant_id)
    if keys is None:
        keys = TenantKeys(tenant_id, kek_ref, open_index_root(keyring, kek_ref, tenant_id, index_wrapped))
        _worker_state[tenant_id] = keys
    return _prepare(keys, keyring, items, uuid_hex=uuid_hex)


class _Preparer:
    """Prepares batches in order: inline for small imports, in worker processes (one per
    core) once an import proves large, with a bounded number of batches in flight."""

    def __init__(self, runtime: Runtime, keys: TenantKeys, index_wrapped: bytes, workers: int) -> None:
        self._runtime, self._keys, self._index_wrapped, self._workers = runtime, keys, index_wrapped, workers
        self._pool: ProcessPoolExecutor | None = None
        self._seen = 0
        self._uuid_hex = runtime.engine.dialect.name == "sqlite"

    def map(self, batches: Iterable[list[tuple[int, _RawRow]]]) -> Iterator[_Prepared]:
        pending: deque[Future[_Prepared]] = deque()
        try:
            for batch in batches:
                self._seen += 1
                if self._pool is None and self._workers > 1 and self._seen > _INLINE_BATCHES:
                    self._pool = ProcessPoolExecutor(
                        max_workers=self._workers,
                        mp_context=_worker_context(self._runtime.keyring),
                        initializer=_worker_init,
                        initargs=(self._runtime.keyring,),
                    )
                if self._pool is None:
                    yield _prepare(self._keys, self._runtime.keyring, batch, uuid_hex=self._uuid_hex)
                    continue
                tenant = (self._keys.tenant_id, self._keys.kek_ref, self._index_wrapped, self._uuid_hex)
                pending.append(self._pool.submit(_worker_prepare, tenant, batch))
                if len(pending) >= 2 * self._workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)


_INLINE_BATCHES = 3


def _worker_context(keyring: Keyring) -> multiprocessing.context.BaseContext:
    """fork where the keyring allows it (workers start at once and only compute: no database,
    no threads of ours in the child); spawn for keyrings holding handles a fork would share,
    such as a PKCS#11 session."""
    fork_safe = bool(getattr(keyring, "FORK_SAFE", False))
    if fork_safe and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _batches(rows: Iterator[tuple[int, _RawRow]], size: int) -> Iterator[list[tuple[int, _RawRow]]]:
    while True:
        batch = list(itertools.islice(rows, size))
        if not batch:
            return
        yield batch


def import_customers(
    *,
    runtime: Runtime,
    actor: Actor,
    lines: Iterable[bytes],
    fmt: ImportFormat,
    strict: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import rows; returns counts and the bad rows (line, field, code)."""
    size = batch_size or runtime.settings.import_batch_size
    report = ImportReport()
    rows = _csv_rows(lines) if fmt == "csv" else _jsonl_rows(lines)
    with runtime.sessions() as db_session:
        with db_session.begin():
            set_tenant(db_session, actor.tenant_id)
            decision = enforce(
                db_session, actor, "customer.import", Resource(type="customer", tenant_id=actor.tenant_id)
            )
            keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
            tenant = get_tenant_or_raise(db_session=db_session, tenant_id=actor.tenant_id)
            index_wrapped = tenant.index_key_wrapped
        workers = 1 if strict else (runtime.settings.import_workers or os.cpu_count() or 1)
        preparer = _Preparer(runtime, keys, index_wrapped, workers)
        deferred = _defer_secondary_indexes(runtime) if not strict else False
        transaction = db_session.begin() if strict else None
        try:
            if transaction is not None:
                set_tenant(db_session, actor.tenant_id)
            for prepared in preparer.map(_batches(rows, size)):
                for line, error in prepared.errors:
                    report.failed += 1
                    if len(report.errors) < MAX_REPORTED_ERRORS:
                        report.errors.append(ImportError_(line=line, field=error.field, code=error.code))
                    else:
                        report.errors_truncated = True
                if strict and prepared.errors:
                    raise Invalid(
                        f"Import rejected at line {prepared.errors[0][0]}: nothing was imported",
                        code="import.rejected",
                        errors=[error.model_dump() for error in report.errors],
                    )
                if transaction is not None:
                    _record_created(db_session, actor, decision, _store(db_session, actor.tenant_id, prepared, report))
                else:
                    with db_session.begin():
                        set_tenant(db_session, actor.tenant_id)
                        created = _store(db_session, actor.tenant_id, prepared, report)
                        _record_created(db_session, actor, decision, created)
                if on_progress:
                    on_progress(report)
            if transaction is not None:
                transaction.commit()
        except BaseException:
            if transaction is not None and transaction.is_active:
                transaction.rollback()
            raise
        finally:
            if deferred:
                _build_secondary_indexes(runtime)
    return report


_DEFERRABLE = tuple(index for index in cast(Table, Customer.__table__).indexes if not index.unique)
"""The blind-index and agent indexes: random keys, so loading them row by row costs random
B-tree inserts far beyond the page cache, while building them after the load is one sort.
The unique external-reference index stays: it is what makes a re-run idempotent."""


def _defer_secondary_indexes(runtime: Runtime) -> bool:
    """On the embedded SQLite database, an initial load (no customer of any tenant yet)
    drops the secondary indexes; ``_build_secondary_indexes`` builds them at the end. Any
    other import first rebuilds indexes an interrupted initial load left missing.

    Only SQLite: there the application owns the schema and is the only writer, while a
    PostgreSQL application role may not drop indexes, and other tenants' searches need
    them. Searches during an initial load are correct, just unindexed."""
    if runtime.engine.dialect.name != "sqlite":
        return False
    with runtime.engine.begin() as connection:
        if connection.exec_driver_sql("SELECT 1 FROM customer LIMIT 1").first() is not None:
            _create_indexes(connection)
            return False
        for index in _DEFERRABLE:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
    return True


def _build_secondary_indexes(runtime: Runtime) -> None:
    with runtime.engine.begin() as connection:
        _create_indexes(connection)


def _create_indexes(connection: Connection) -> None:
    for index in _DEFERRABLE:
        index.create(connection, checkfirst=True)
