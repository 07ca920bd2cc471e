"""Bulk import of customers from CSV or JSON lines, streamed.

Rows are validated one by one and written in batches, one transaction per batch (or one
for the whole file with ``strict``), so a crash never leaves a half-written row and a
re-run of the same file skips every external reference already stored. Bad rows are
reported by line, field and code and never stop the good ones unless ``strict``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, cast

from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.pdp import Resource, enforce
from callvault.core import clock
from callvault.core.db import bulk_insert, set_tenant
from callvault.core.errors import Invalid
from callvault.core.runtime import Runtime
from callvault.vault.customers.models import Customer
from callvault.vault.customers.schemas import CustomerCreate, ImportError_, ImportReport
from callvault.vault.customers.service import sealed_row
from callvault.vault.fields.service import new_subject_keys, tenant_keys, time_ordered_uuid

__all__ = ["MAX_REPORTED_ERRORS", "ImportFormat", "import_customers"]

ImportFormat = Literal["csv", "jsonl"]
MAX_REPORTED_ERRORS = 1000
_FIELDS = frozenset(CustomerCreate.model_fields)
_PLAIN_FIELDS = ("membership_level", "assigned_agent", "region", "external_ref")


class _RowError(Exception):
    def __init__(self, field: str | None, code: str) -> None:
        self.field = field
        self.code = code


def _decoded(lines: Iterable[bytes], errors: list[tuple[int, _RowError]]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            errors.append((number, _RowError(None, "encoding.invalid")))
            continue
        yield number, text


def _jsonl_rows(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
    pending: list[tuple[int, _RowError]] = []
    for number, text in _decoded(lines, pending):
        while pending:
            yield pending.pop(0)
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError:
            yield number, _RowError(None, "json.invalid")
            continue
        if not isinstance(row, dict):
            yield number, _RowError(None, "json.not_object")
            continue
        yield number, row
    while pending:
        yield pending.pop(0)


def _csv_rows(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
    pending: list[tuple[int, _RowError]] = []
    numbered = _decoded(lines, pending)
    current = [0]

    def texts() -> Iterator[str]:
        for number, text in numbered:
            current[0] = number
            yield text

    reader = csv.reader(texts())
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    unknown = sorted(set(header) - _FIELDS)
    if unknown:
        raise Invalid("Unknown CSV columns: " + ", ".join(name[:40] for name in unknown), code="import.unknown_columns")
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


def _validate(row: dict[str, Any]) -> CustomerCreate | _RowError:
    try:
        customer = CustomerCreate.model_validate(row)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False, include_context=False)[0]
        loc = first["loc"]
        return _RowError(str(loc[0]) if loc else None, str(first["type"]))
    if customer.external_ref is None:
        return _RowError("external_ref", "import.external_ref_required")
    return customer


def _write_batch(db_session: Session, actor: Actor, batch: list[CustomerCreate], report: ImportReport) -> None:
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    refs = [customer.external_ref for customer in batch]
    existing = set(
        db_session.scalars(
            select(Customer.external_ref).where(Customer.tenant_id == actor.tenant_id, Customer.external_ref.in_(refs))
        )
    )
    fresh: list[CustomerCreate] = []
    for customer in batch:
        if customer.external_ref in existing:
            report.skipped_existing += 1
            continue
        existing.add(customer.external_ref)
        fresh.append(customer)
    if not fresh:
        return
    deks = new_subject_keys(db_session=db_session, keys=keys, count=len(fresh))
    now = clock.now()
    rows = []
    for customer, dek in zip(fresh, deks, strict=True):
        customer_id = time_ordered_uuid()
        values = customer.model_dump()
        row = {
            "tenant_id": actor.tenant_id,
            "id": customer_id,
            "subject_key_id": dek.key_id,
            "retention_class": "standard",
            "legal_hold": False,
            "created_at": now,
            "updated_at": now,
            "version": 1,
            **{field: values[field] for field in _PLAIN_FIELDS},
            **sealed_row(keys, dek, customer_id, values),
        }
        rows.append(row)
    bulk_insert(db_session, cast(Table, Customer.__table__), rows)
    report.imported += len(rows)


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
            enforce(db_session, actor, "customer.import", Resource(type="customer", tenant_id=actor.tenant_id))
        transaction = db_session.begin() if strict else None
        if transaction is not None:
            set_tenant(db_session, actor.tenant_id)
        try:
            batch: list[CustomerCreate] = []
            for line, parsed in rows:
                result = parsed if isinstance(parsed, _RowError) else _validate(parsed)
                if isinstance(result, _RowError):
                    report.failed += 1
                    if len(report.errors) < MAX_REPORTED_ERRORS:
                        report.errors.append(ImportError_(line=line, field=result.field, code=result.code))
                    else:
                        report.errors_truncated = True
                    if strict:
                        raise Invalid(
                            f"Import rejected at line {line}: nothing was imported",
                            code="import.rejected",
                            errors=[error.model_dump() for error in report.errors],
                        )
                    continue
                batch.append(result)
                if len(batch) >= size:
                    _flush(db_session, actor, batch, report, in_transaction=strict)
                    batch = []
                    if on_progress:
                        on_progress(report)
            if batch:
                _flush(db_session, actor, batch, report, in_transaction=strict)
            if transaction is not None:
                transaction.commit()
        except BaseException:
            if transaction is not None and transaction.is_active:
                transaction.rollback()
            raise
    if on_progress:
        on_progress(report)
    return report


def _flush(
    db_session: Session, actor: Actor, batch: list[CustomerCreate], report: ImportReport, *, in_transaction: bool
) -> None:
    if in_transaction:
        _write_batch(db_session, actor, batch, report)
        return
    with db_session.begin():
        set_tenant(db_session, actor.tenant_id)
        _write_batch(db_session, actor, batch, report)
