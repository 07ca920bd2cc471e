"""SQLite: the importer hands rows over in the types ``sqlite3`` binds without adapters
(``bytearray`` blobs, ``0`` for the flag); stored, they are exactly what ``bytes`` and
``False`` store, and read back through the ORM as such."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.core.db import insert_tuples, set_tenant
from callvault.core.runtime import Runtime
from callvault.crypto import FieldContext
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer
from callvault.vault.customers.importer import import_customers
from callvault.vault.customers.models import Customer
from callvault.vault.customers.schemas import ImportReport
from callvault.vault.fields.models import SubjectKey
from callvault.vault.fields.service import open_subject_key, tenant_keys


def _classic(row: tuple[Any, ...] | bytes, tenant_id: str) -> tuple[Any, ...]:
    """The row as the generic path binds it: ``bytes`` and ``bool``."""
    assert isinstance(row, tuple)
    values = [bytes(value) if isinstance(value, bytearray) else value for value in row]
    return (tenant_id, *values[1:])


def _stored(runtime: Runtime, table: str, columns: tuple[str, ...], tenant_id: str) -> list[tuple[Any, ...]]:
    probes = ", ".join(f"typeof({name}), quote({name})" for name in columns if name != "tenant_id")
    with runtime.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {probes} FROM {table} WHERE tenant_id = ? ORDER BY id", (tenant_id,))
        return [tuple(row) for row in rows]


def test_sqlite_rows_store_what_bytes_and_bool_store(isolated_runtime: Runtime) -> None:
    if isolated_runtime.engine.dialect.name != "sqlite":
        pytest.skip("the bind types are the SQLite hand-over")
    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id="acme", name="acme")
    lines = list(CustomerGenerator(seed=61).jsonl_lines(40, start=7_400_000))
    with isolated_runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, "acme")
        keys = tenant_keys(db_session=db_session, tenant_id="acme")
        prepared = importer._prepare(keys, isolated_runtime.keyring, (1, lines), uuid_hex=True)
        assert not prepared.errors
        assert any(None in row for row in prepared.customers), "rows with an empty field are covered"
        assert {type(value) for row in prepared.customers for value in row} <= {str, int, bytearray, type(None)}
        report = ImportReport()
        importer._store(db_session, "acme", prepared, report)
        assert report.imported == len(lines)
        insert_tuples(db_session, "subject_key", importer._KEY_COLUMNS, [_classic(r, "beta") for r in prepared.keys])
        customers = [_classic(row, "beta") for row in prepared.customers]
        assert all(row[4] == 0 for row in customers)
        insert_tuples(db_session, "customer", importer._CUSTOMER_COLUMNS, [(*r[:4], False, *r[5:]) for r in customers])
    for table, columns in (("customer", importer._CUSTOMER_COLUMNS), ("subject_key", importer._KEY_COLUMNS)):
        assert _stored(isolated_runtime, table, columns, "acme") == _stored(isolated_runtime, table, columns, "beta")
    with isolated_runtime.sessions() as db_session:
        customer = db_session.scalars(select(Customer).where(Customer.tenant_id == "acme")).first()
        key = db_session.scalars(select(SubjectKey).where(SubjectKey.tenant_id == "acme")).first()
        assert customer is not None and key is not None
        assert customer.legal_hold is False and type(customer.name_ct) is bytes and type(key.wrapped_dek) is bytes


def test_worker_batches_through_scratch_files_store_every_row_once(
    isolated_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the inline batches, SQLite workers hand batches over as scratch files that the
    import attaches and copies: re-run rows skipped, duplicates (in one batch, across
    batches) and bad rows reported and not stored, every stored row opening to its line's
    values, found by its blind index; no scratch file left behind."""
    if isolated_runtime.engine.dialect.name != "sqlite":
        pytest.skip("scratch files are the SQLite hand-over")
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # where the import's scratch directory goes
    isolated_runtime.settings.import_workers = 2
    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id="acme", name="acme")
    rows = list(CustomerGenerator(seed=62).customers(40, start=7_500_000))
    rows[19] = {**rows[19], "external_ref": rows[18]["external_ref"]}  # line 20: twin of line 19, same batch
    rows[29] = {**rows[29], "external_ref": rows[1]["external_ref"]}  # line 30: twin of line 2, an earlier batch
    rows[24] = {**rows[24], "mobile": "12345"}  # line 25: bad
    lines = [json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows]
    actor = Actor.operator("acme")
    earlier = import_customers(runtime=isolated_runtime, actor=actor, lines=[lines[21], lines[22]], fmt="jsonl")
    assert earlier.imported == 2

    handed_over: set[str] = set()

    def progress(_: ImportReport) -> None:  # the files workers wrote ahead of the batch being stored
        handed_over.update(path.name for path in temporary.glob("callvault-import-*/*.db"))

    report = import_customers(
        runtime=isolated_runtime, actor=actor, lines=lines, fmt="jsonl", batch_size=4, on_progress=progress
    )
    assert handed_over, "worker batches came as scratch files"
    assert (report.imported, report.skipped_existing, report.failed) == (35, 2, 3), report
    assert [(e.line, e.field, e.code) for e in report.errors] == [
        (20, "external_ref", "import.duplicate_external_ref"),
        (25, "mobile", "phone.invalid"),
        (30, "external_ref", "import.duplicate_external_ref"),
    ]
    assert list(temporary.glob("callvault-import-*")) == [], "scratch files are removed"

    expected = {row["external_ref"]: row for number, row in enumerate(rows, start=1) if number not in (20, 25, 30)}
    with isolated_runtime.sessions() as db_session, db_session.begin():
        keys = tenant_keys(db_session=db_session, tenant_id="acme")
        stored = db_session.scalars(select(Customer).where(Customer.tenant_id == "acme")).all()
        assert sorted(customer.external_ref or "" for customer in stored) == sorted(expected)
        for customer in stored:
            row = expected[customer.external_ref or ""]
            dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
            context = FieldContext("acme", "customer", "name", str(customer.id))
            assert customer.name_ct is not None and dek.open(customer.name_ct, context) == row["name"]
            assert customer.mobile_bidx == keys.index("customer.mobile", "+86" + row["mobile"])
            assert customer.legal_hold is False and customer.assigned_agent == row["assigned_agent"]


def test_an_import_removes_the_scratch_directories_of_killed_imports(
    isolated_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``kill -9`` leaves the import's scratch directory behind; the next import removes
    the ones whose process is gone, and only those (a running import's, other files)."""
    if isolated_runtime.engine.dialect.name != "sqlite":
        pytest.skip("scratch files are the SQLite hand-over")
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    gone_pid = int(finished.stdout)  # a process that has exited
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed = temporary / f"callvault-import-{gone_pid}-abc123"
        killed.mkdir(mode=0o700)
        (killed / "7.db").write_bytes(b"ciphertexts")
        alive = temporary / f"callvault-import-{running.pid}-def456"
        alive.mkdir(mode=0o700)
        unrelated = [temporary / "callvault-import-notapid", temporary / f"other-{gone_pid}"]
        for path in unrelated:
            path.mkdir()
        isolated_runtime.settings.import_workers = 2
        with isolated_runtime.sessions() as db_session, db_session.begin():
            identity.create_tenant(db_session=db_session, tenant_id="acme", name="acme")
        lines = [json.dumps(row).encode() + b"\n" for row in CustomerGenerator(seed=5).customers(30)]
        report = import_customers(
            runtime=isolated_runtime, actor=Actor.operator("acme"), lines=lines, fmt="jsonl", batch_size=4
        )
        assert report.imported == 30
        assert not killed.exists()
        assert alive.exists() and all(path.exists() for path in unrelated)
        assert sorted(path.name for path in temporary.iterdir()) == sorted(
            [alive.name, *(path.name for path in unrelated)]
        ), "this import's own directory is removed too"
    finally:
        running.kill()
        running.wait()
