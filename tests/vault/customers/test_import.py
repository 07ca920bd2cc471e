"""Bulk import: streamed, batched, idempotent, crash-safe, honest about bad rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callvault.audit.models import AuditEvent
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers.models import Customer
from callvault.vault.fields.models import SubjectKey
from tests.conftest import TenantHandle, auth, remember_pii


def _count(runtime: Runtime, tenant_id: str) -> tuple[int, int]:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        customers = db_session.scalar(select(func.count()).where(Customer.tenant_id == tenant_id))
        keys = db_session.scalar(select(func.count()).where(SubjectKey.tenant_id == tenant_id))
    return int(customers or 0), int(keys or 0)


def _unlogged(runtime: Runtime, tenant_id: str) -> tuple[int, int]:
    """(customers without a ``customer.create`` event, customers with more than one)."""
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        ids = {str(cid) for cid in db_session.scalars(select(Customer.id).where(Customer.tenant_id == tenant_id))}
        logged = Counter(
            db_session.scalars(
                select(AuditEvent.subject_id).where(
                    AuditEvent.tenant_id == tenant_id, AuditEvent.action == "customer.create"
                )
            )
        )
    return len(ids - set(logged)), sum(1 for cid in ids if logged[cid] > 1)


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "callvault.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_kill_9_midway_leaves_no_partial_row_and_rerun_completes(
    runtime: Runtime, tenant: TenantHandle, cli_env: dict[str, str], tmp_path: Path
) -> None:
    total = 40_000  # large enough that the kill lands midway even at full import speed
    path = tmp_path / "customers.jsonl"
    generator = CustomerGenerator(seed=21)
    with path.open("wb") as handle:
        for line in generator.jsonl_lines(total, start=2_000_000):
            handle.write(line)
    process = _cli(cli_env, "customers", "import", str(path), "--tenant", tenant.id, "--batch-size", "500")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _count(runtime, tenant.id)[0] >= 500:
            break
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    customers, keys = _count(runtime, tenant.id)
    assert 0 < customers < total, "the kill must land midway"
    assert customers % 500 == 0, "only whole batches are ever committed"
    assert keys == customers, "no data key without its customer and vice versa"
    assert _unlogged(runtime, tenant.id) == (0, 0), "every stored customer has exactly one creation event"

    rerun = _cli(cli_env, "customers", "import", str(path), "--tenant", tenant.id, "--batch-size", "500")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    assert f"imported={total - customers} skipped_existing={customers} failed=0" in out.decode()
    assert _count(runtime, tenant.id) == (total, total)
    assert _unlogged(runtime, tenant.id) == (0, 0)


def test_bad_rows_are_reported_and_good_rows_kept(client: TestClient, tenant: TenantHandle) -> None:
    generator = CustomerGenerator(seed=5)
    good = list(generator.customers(4, start=3_000_000))
    remember_pii(*good)
    lines = [
        json.dumps(good[0]),
        json.dumps({**good[1], "id_number": "110101199003071235"}),
        "{broken json",
        json.dumps({**good[2], "external_ref": None}),
        json.dumps(good[3]),
        json.dumps([1, 2]),
    ]
    body = ("\n".join(lines) + "\n").encode() + b"\xff\xfe\n"
    response = client.post(
        "/v1/customers:import", content=body, headers={**auth(tenant.api_key), "content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["failed"]) == (2, 5)
    errors = [(e["line"], e["field"], e["code"]) for e in report["errors"]]
    assert errors == [
        (2, "id_number", "id_number.checksum"),
        (3, None, "json.invalid"),
        (4, "external_ref", "import.external_ref_required"),
        (6, None, "json.not_object"),
        (7, None, "encoding.invalid"),
    ]
    assert "110101199003071235" not in response.text


def test_csv_import_is_idempotent(client: TestClient, tenant: TenantHandle) -> None:
    generator = CustomerGenerator(seed=6)
    rows = list(generator.customers(30, start=3_100_000))
    remember_pii(*rows)
    columns = ["external_ref", "name", "mobile", "id_number", "bank_card", "email", "address", "region"]
    csv_text = (
        ",".join(columns)
        + "\n"
        + "".join(",".join('"' + str(row.get(c, "")).replace('"', '""') + '"' for c in columns) + "\n" for row in rows)
    )
    headers = {**auth(tenant.api_key), "content-type": "text/csv"}
    first = client.post("/v1/customers:import", content=csv_text.encode(), headers=headers).json()
    second = client.post("/v1/customers:import", content=csv_text.encode(), headers=headers).json()
    assert (first["imported"], first["skipped_existing"], first["failed"]) == (30, 0, 0)
    assert (second["imported"], second["skipped_existing"], second["failed"]) == (0, 30, 0)
    found = client.post("/v1/customers:search", json={"mobile": rows[7]["mobile"]}, headers=auth(tenant.api_key))
    assert [c["external_ref"] for c in found.json()] == [rows[7]["external_ref"]]


def test_strict_import_rejects_the_whole_file(client: TestClient, tenant: TenantHandle) -> None:
    generator = CustomerGenerator(seed=8)
    rows: list[dict[str, Any]] = list(generator.customers(3, start=3_200_000))
    remember_pii(*rows)
    rows[2]["bank_card"] = "6222020000000008"
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    headers = {**auth(tenant.api_key), "content-type": "application/x-ndjson"}
    response = client.post("/v1/customers:import?strict=true", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "import.rejected"
    assert response.json()["errors"][0] == {"line": 3, "field": "bank_card", "code": "bank_card.checksum"}
    page = client.get("/v1/customers", headers=auth(tenant.api_key)).json()
    assert page["items"] == []


def test_unknown_csv_column_is_rejected(client: TestClient, tenant: TenantHandle) -> None:
    headers = {**auth(tenant.api_key), "content-type": "text/csv"}
    response = client.post("/v1/customers:import", content=b"external_ref,shoe_size\nA-1,42\n", headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "import.unknown_columns"


def test_oversized_import_is_413(runtime: Runtime, tenant: TenantHandle) -> None:
    from callvault.api.app import create_app
    from callvault.core.runtime import Runtime as RuntimeType

    small = RuntimeType(
        settings=runtime.settings.model_copy(update={"max_request_bytes": 2048}),
        engine=runtime.engine,
        sessions=runtime.sessions,
        keyring=runtime.keyring,
    )
    try:
        with TestClient(create_app(small)) as test_client:
            headers = {**auth(tenant.api_key), "content-type": "application/x-ndjson"}
            response = test_client.post("/v1/customers:import", content=b"{}\n" * 2000, headers=headers)
    finally:
        small.close()  # its audit writer would sign heads into the test database after it is dropped
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]


def _refuse_create_events(runtime: Runtime) -> None:
    """A DBA-made fault: the log refuses ``customer.create`` events (disk full, lost lock...)."""
    from tests.conftest import owner_engine

    engine = owner_engine(runtime)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_create() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.action = 'customer.create' THEN RAISE EXCEPTION 'log refuses'; END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_create BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION refuse_create()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_create BEFORE INSERT ON audit_event WHEN NEW.action = 'customer.create' "
                "BEGIN SELECT RAISE(ABORT, 'log refuses'); END"
            )
    engine.dispose()


def _new_tenant(runtime: Runtime, tenant_id: str) -> None:
    from callvault.access.identity import service as identity

    with runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name=tenant_id)


def test_customers_and_their_creation_events_commit_together(isolated_runtime: Runtime) -> None:
    """If the creation events cannot be written, the batch's customers are not stored
    either: no customer is ever stored without its event (issue 9, item 8)."""
    import pytest

    from callvault.access.actor import Actor
    from callvault.vault.customers.importer import import_customers

    _new_tenant(isolated_runtime, "acme")
    _refuse_create_events(isolated_runtime)
    lines = list(CustomerGenerator(seed=31).jsonl_lines(40, start=5_000_000))
    with pytest.raises(Exception, match="log refuses"):
        import_customers(
            runtime=isolated_runtime, actor=Actor.operator("acme"), lines=lines, fmt="jsonl", batch_size=20
        )
    assert _count(isolated_runtime, "acme") == (0, 0)


def test_rerun_backfills_creation_events_an_older_import_lost(isolated_runtime: Runtime) -> None:
    """Customers stored by an import that crashed between its two commits (before events
    committed with their batch) get their one creation event on the next run."""
    from callvault.access.actor import Actor
    from callvault.core.db import set_tenant
    from callvault.vault.customers import importer
    from callvault.vault.customers.schemas import ImportReport
    from callvault.vault.fields.service import tenant_keys

    _new_tenant(isolated_runtime, "acme")
    lines = list(CustomerGenerator(seed=32).jsonl_lines(30, start=5_100_000))
    with isolated_runtime.sessions() as db_session, db_session.begin():  # what the old importer left behind
        set_tenant(db_session, "acme")
        keys = tenant_keys(db_session=db_session, tenant_id="acme")
        rows = [(number, line.decode()) for number, line in enumerate(lines[:12], start=1)]
        sqlite = isolated_runtime.engine.dialect.name == "sqlite"
        prepared = importer._prepare(keys, isolated_runtime.keyring, list(rows), uuid_hex=sqlite)
        importer._store(db_session, "acme", prepared, ImportReport())
    assert _unlogged(isolated_runtime, "acme") == (12, 0)

    report = importer.import_customers(
        runtime=isolated_runtime, actor=Actor.operator("acme"), lines=lines, fmt="jsonl", batch_size=10
    )
    assert (report.imported, report.skipped_existing) == (18, 12)
    assert _count(isolated_runtime, "acme") == (30, 30)
    assert _unlogged(isolated_runtime, "acme") == (0, 0)
    importer.import_customers(runtime=isolated_runtime, actor=Actor.operator("acme"), lines=lines, fmt="jsonl")
    assert _unlogged(isolated_runtime, "acme") == (0, 0), "a second re-run adds nothing"


def test_imported_events_verify(isolated_runtime: Runtime) -> None:
    """The creation events a bulk import assembles from a template hash exactly as the
    reference encoding does: the whole log verifies, leaf by leaf and head by head."""
    from callvault.access.actor import Actor
    from callvault.audit.log import writer_for
    from callvault.audit.verify import verify_log
    from callvault.vault.customers.importer import import_customers

    _new_tenant(isolated_runtime, "acme")
    lines = list(CustomerGenerator(seed=33).jsonl_lines(70, start=5_200_000))
    report = import_customers(
        runtime=isolated_runtime, actor=Actor.operator("acme"), lines=lines, fmt="jsonl", batch_size=16
    )
    assert report.imported == 70
    writer_for(isolated_runtime).sign_head()
    with isolated_runtime.engine.connect() as conn:
        verified = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert verified.ok, [f.line() for f in verified.findings]
    assert verified.events == 71  # customer.import, then one customer.create each
    assert _unlogged(isolated_runtime, "acme") == (0, 0)


def _secondary_indexes(runtime: Runtime) -> set[str]:
    with runtime.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('customer', 'audit_event')"
        )
        return {name for (name,) in rows if name.startswith(("ix_customer_", "ix_audit_event_"))}


def test_an_initial_load_builds_its_indexes_after_the_load(isolated_runtime: Runtime, tmp_path: Path) -> None:
    """On an empty embedded database the blind-index indexes (and the audit log's query
    indexes) are built after the load;
    one that a kill -9 interrupted is rebuilt by the next import, which completes it."""
    import pytest

    from callvault.access.actor import Actor
    from callvault.vault.customers.importer import import_customers

    if isolated_runtime.engine.dialect.name != "sqlite":
        pytest.skip("indexes are deferred only on the embedded SQLite database")
    expected = {"ix_customer_mobile", "ix_customer_mobile_last4", "ix_customer_id_number", "ix_customer_email",
                "ix_customer_agent", "ix_audit_event_tenant_seq", "ix_audit_event_tenant_actor",
                "ix_audit_event_tenant_subject", "ix_audit_event_tenant_action", "ix_audit_event_tenant_time"}  # fmt: skip
    _new_tenant(isolated_runtime, "acme")
    total = 6_000
    path = tmp_path / "customers.jsonl"
    path.write_bytes(b"".join(CustomerGenerator(seed=34).jsonl_lines(total, start=5_300_000)))
    settings = isolated_runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env.update(CALLVAULT_HOME=str(settings.home), CALLVAULT_MASTER_KEY="test-master-key")
    process = _cli(env, "customers", "import", str(path), "--tenant", "acme", "--batch-size", "250")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _count(isolated_runtime, "acme")[0] < 500:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < _count(isolated_runtime, "acme")[0] < total
    assert _secondary_indexes(isolated_runtime) == set(), "the interrupted initial load had them dropped"

    lines = path.read_bytes().splitlines(keepends=True)
    import_customers(runtime=isolated_runtime, actor=Actor.operator("acme"), lines=lines, fmt="jsonl")
    assert _secondary_indexes(isolated_runtime) == expected
    assert _count(isolated_runtime, "acme") == (total, total)
    assert _unlogged(isolated_runtime, "acme") == (0, 0)
