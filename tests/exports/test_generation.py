"""Generation in worker processes (large exports) writes what generation in one process
writes: the same rows, masked the same, fingerprinted with the export's own bits (traced
back to it), erased customers skipped; the CSV and the XLSX carry the same rows."""

from __future__ import annotations

import io
import random
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.exports import service
from callvault.vault.customers.models import Customer
from callvault.vault.fields.service import destroy_subject_key
from tests.access.identity.conftest import FakeClock
from tests.conftest import TenantHandle
from tests.exports.conftest import import_customers
from tests.exports.test_trace import _actor, _csv_rows, _download, _make_export, _trace, pasted_subset

CUSTOMERS = 130
FIELDS = ["id", "name", "mobile", "landline", "id_number", "bank_card", "email", "address", "region", "created_at"]


def _xlsx_rows(data: bytes) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    assert sheet is not None
    values = [["" if value is None else str(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    return values[2:-1]  # watermark row, header, rows, footer row


def _unmarked(rows: list[list[str]]) -> list[list[str]]:
    """Rows with every star run collapsed: what the plain mask shows, whatever the bits."""
    return [[re.sub(r"\*+", "*", cell) for cell in row] for row in rows]


def test_worker_processes_write_what_one_process_writes(
    client: TestClient,
    runtime: Runtime,
    make_tenant,  # type: ignore[no-untyped-def]
    make_person,  # type: ignore[no-untyped-def]
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant: TenantHandle = make_tenant()
    import_customers(client, tenant, CUSTOMERS, seed=23)
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        erased = db_session.scalars(
            select(Customer.subject_key_id).where(Customer.tenant_id == tenant.id).order_by(Customer.id).offset(50)
        ).first()
        assert erased is not None
        destroy_subject_key(db_session=db_session, tenant_id=tenant.id, key_id=erased)
    requester = make_person(tenant.id, "supervisor")
    approvers = [make_person(tenant.id, "security_officer"), make_person(tenant.id, "dpo")]

    inline = _make_export(runtime, requester, approvers, FIELDS)
    monkeypatch.setattr(service, "_BATCH", 16)  # several batches, each in a worker or here
    monkeypatch.setattr(service, "_INLINE_ROWS", 0)  # every export in worker processes
    monkeypatch.setattr(runtime.settings, "export_workers", 2)
    pooled = _make_export(runtime, requester, approvers, FIELDS)

    files: dict[str, dict[str, list[list[str]]]] = {}
    for export_id in (inline, pooled):
        _, csv_rows = _csv_rows(_download(runtime, requester, export_id, "csv"))
        files[export_id] = {"csv": csv_rows, "xlsx": _xlsx_rows(_download(runtime, requester, export_id, "xlsx"))}
        assert files[export_id]["csv"] == files[export_id]["xlsx"]
        assert len(csv_rows) == CUSTOMERS - 1  # the erased customer is skipped
        with tenant_session(runtime.sessions, tenant.id) as db_session:
            read = service.get_or_raise(db_session=db_session, actor=_actor(requester), export_id=uuid.UUID(export_id))
        assert (read.row_count, read.skipped_rows) == (CUSTOMERS - 1, 1)
    assert not list(runtime.settings.home.glob("export-*"))  # no spooled XLSX or sheet left behind
    assert files[inline]["csv"] != files[pooled]["csv"]  # each export's own bits...
    assert _unmarked(files[inline]["csv"]) == _unmarked(files[pooled]["csv"])  # ...on the same masked rows

    security = make_person(tenant.id, "security_officer")
    for export_id in (inline, pooled):
        found: Any = _trace(runtime, security, pasted_subset(files[export_id]["csv"], random.Random(2)))
        assert found.matched and str(found.export_id) == export_id, found


def test_an_xlsx_written_alone_streams_into_its_blob_and_reads_back(
    client: TestClient,
    runtime: Runtime,
    make_tenant,  # type: ignore[no-untyped-def]
    make_person,  # type: ignore[no-untyped-def]
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from callvault.exports.schemas import ExportCreate

    tenant: TenantHandle = make_tenant()
    import_customers(client, tenant, 40, seed=29)
    requester = make_person(tenant.id, "supervisor")
    monkeypatch.setattr(service, "_schedule_after_commit", lambda db_session, export: None)  # generated below
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        export = service.create(
            db_session=db_session,
            actor=_actor(requester),
            export_in=ExportCreate(fields=["name", "mobile", "id_number", "region"], purpose="Branch list, XLSX only"),
        )
    for role in ("security_officer", "dpo"):
        with tenant_session(runtime.sessions, tenant.id) as db_session:
            service.decide(
                db_session=db_session, actor=_actor(make_person(tenant.id, role)), export_id=export.id, approve=True
            )
    assert service.generate(runtime, tenant.id, export.id, formats=("xlsx",)) == "ready"
    rows = _xlsx_rows(_download(runtime, requester, str(export.id), "xlsx"))
    assert len(rows) == 40 and all("*" in row[1] for row in rows)
    found: Any = _trace(runtime, make_person(tenant.id, "security_officer"), pasted_subset(rows, random.Random(4)))
    assert found.matched and found.export_id == export.id, found
    assert not list(runtime.settings.home.glob("export-*"))


def test_workers_that_cannot_start_leave_the_batches_to_the_exporting_process(
    client: TestClient,
    runtime: Runtime,
    make_tenant,  # type: ignore[no-untyped-def]
    make_person,  # type: ignore[no-untyped-def]
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant: TenantHandle = make_tenant()
    import_customers(client, tenant, 30, seed=31)
    requester = make_person(tenant.id, "supervisor")
    monkeypatch.setattr(service, "_BATCH", 8)
    monkeypatch.setattr(service, "_INLINE_ROWS", 0)  # every export in worker processes
    monkeypatch.setattr(runtime.settings, "export_workers", 2)
    monkeypatch.setattr(service, "worker_init", lambda keyring: None)  # a lambda cannot start a worker
    approvers = [make_person(tenant.id, "security_officer"), make_person(tenant.id, "dpo")]
    export_id = _make_export(runtime, requester, approvers, ["name", "mobile", "region"])
    _, rows = _csv_rows(_download(runtime, requester, export_id, "csv"))
    assert len(rows) == 30


def test_ids_are_written_as_str_of_uuid_whatever_the_driver_returns() -> None:
    from callvault.exports.cells import _canonical_id

    for _ in range(200):
        value = uuid.uuid4()
        assert _canonical_id(value.hex) == _canonical_id(value.hex.upper()) == str(value)
        assert _canonical_id(value) == _canonical_id(str(value)) == str(value)


def test_export_workers_setting_decides_the_worker_processes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    assert service._workers(runtime, service._INLINE_ROWS) == 1  # small: the exporting process alone
    assert service._workers(runtime, service._INLINE_ROWS + 1) == max(1, os.cpu_count() or 1)
    monkeypatch.setattr(runtime.settings, "export_workers", 1)
    assert service._workers(runtime, 10**6) == 1
    monkeypatch.setattr(runtime.settings, "export_workers", 3)
    assert service._workers(runtime, 10**6) == 3
