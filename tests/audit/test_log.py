"""The audit log end to end: every access recorded, append-only, verifiable, provable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from callvault.audit import merkle
from callvault.audit.log import writer_for
from callvault.audit.verify import verify_log
from callvault.core.runtime import Runtime
from tests.conftest import TenantHandle, auth
from tests.vault.customers.test_api import create, new_customer


def _events(client: TestClient, key: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit/events", params={"limit": 1000, **params}, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


@pytest.fixture
def auditor_key(runtime: Runtime, tenant: TenantHandle) -> str:
    from callvault.access.identity import service as identity

    with runtime.sessions() as db_session, db_session.begin():
        _, key = identity.create_service_account(
            db_session=db_session, tenant_id=tenant.id, name="auditor", scopes=["audit:read"]
        )
    return key


def test_every_customer_access_is_recorded_without_pii(
    client: TestClient, tenant: TenantHandle, auditor_key: str
) -> None:
    row = new_customer()
    created = create(client, tenant, row)
    cid = created["id"]
    client.get(f"/v1/customers/{cid}", headers=auth(tenant.api_key))
    client.post(
        f"/v1/customers/{cid}:reveal",
        json={"fields": ["mobile"], "reason": f"caller {row['mobile']} asked"},
        headers=auth(tenant.api_key),
    )  # denied: no reveal scope
    client.post(
        f"/v1/customers/{cid}:reveal",
        json={"fields": ["mobile"], "reason": "live call 42"},
        headers=auth(tenant.reveal_key),
    )
    client.patch(f"/v1/customers/{cid}", json={"region": "east"}, headers=auth(tenant.api_key))
    client.post("/v1/customers:search", json={"mobile": row["mobile"]}, headers=auth(tenant.api_key))

    events = _events(client, auditor_key)
    actions = [(e["action"], e["decision"]) for e in events if e["subject_id"] in (cid, None)]
    for expected in [
        ("customer.create", "allow"),
        ("customer.read", "allow"),
        ("customer.reveal", "deny"),
        ("customer.reveal", "allow"),
        ("customer.update", "allow"),
        ("customer.search", "allow"),
    ]:
        assert expected in actions
    reveal = next(e for e in events if e["action"] == "customer.reveal" and e["decision"] == "allow")
    assert reveal["purpose"] == "live call 42" and reveal["mask"] == "clear" and reveal["request_id"]
    dump = json.dumps(events, ensure_ascii=False)
    for field in ("mobile", "id_number", "bank_card", "email", "name"):
        assert row[field] not in dump
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)

    report = client.get(f"/v1/audit/subjects/{cid}/report", headers=auth(auditor_key)).json()
    assert {a["action"] for a in report["accesses"]} >= {"customer.read", "customer.reveal", "customer.update"}


def test_filters_and_bad_queries(client: TestClient, tenant: TenantHandle, auditor_key: str) -> None:
    create(client, tenant, new_customer())
    denied = _events(client, auditor_key, decision="deny")
    assert all(e["decision"] == "deny" for e in denied)
    creates = _events(client, auditor_key, action="customer.create")
    assert creates and all(e["action"] == "customer.create" for e in creates)
    backwards = client.get(
        "/v1/audit/events",
        params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=auth(auditor_key),
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["code"] == "time_range.backwards"
    assert client.get("/v1/audit/events", headers=auth(tenant.api_key)).status_code == 403
    assert client.get("/v1/audit/events/999999999/proof", headers=auth(auditor_key)).status_code == 404
    assert client.get("/v1/audit/events/abc/proof", headers=auth(auditor_key)).status_code == 422
    bad = client.get("/v1/audit/tree-heads/consistency?first=5&second=2", headers=auth(auditor_key))
    assert bad.status_code == 422 and bad.json()["code"] == "audit.consistency_range"


def test_inclusion_and_consistency_proofs_verify_offline(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, auditor_key: str, tmp_path: Path
) -> None:
    create(client, tenant, new_customer())
    first_head = writer_for(runtime).sign_head()
    seq = _events(client, auditor_key, action="customer.create")[-1]["seq"]
    create(client, tenant, new_customer())
    proof = client.get(f"/v1/audit/events/{seq}/proof", headers=auth(auditor_key))
    assert proof.status_code == 200, proof.text
    doc = proof.json()
    assert merkle.verify_inclusion(
        bytes.fromhex(doc["leaf_hash"]),
        doc["leaf_index"],
        doc["tree_size"],
        [bytes.fromhex(h) for h in doc["audit_path"]],
        bytes.fromhex(doc["tree_head"]["root"]),
    )
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    ok = subprocess.run(
        [sys.executable, "-m", "callvault.cli", "audit", "verify-proof", str(path)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    doc["leaf_hash"] = "00" * 32
    path.write_text(json.dumps(doc))
    bad = subprocess.run(
        [sys.executable, "-m", "callvault.cli", "audit", "verify-proof", str(path)], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "INVALID" in bad.stderr

    assert first_head is not None
    second = doc["tree_size"]
    consistency = client.get(
        f"/v1/audit/tree-heads/consistency?first={first_head.size}&second={second}", headers=auth(auditor_key)
    )
    assert consistency.status_code == 200, consistency.text
    c = consistency.json()
    assert merkle.verify_consistency(
        c["first"],
        c["second"],
        bytes.fromhex(c["first_root"]),
        bytes.fromhex(c["second_root"]),
        [bytes.fromhex(h) for h in c["proof"]],
    )


def test_database_refuses_update_and_delete(runtime: Runtime, tenant: TenantHandle, client: TestClient) -> None:
    create(client, tenant, new_customer())
    with runtime.engine.connect() as conn:
        for statement in (
            "UPDATE audit_event SET action = 'x'",
            "DELETE FROM audit_event",
            "UPDATE audit_tree_head SET size = size",
            "DELETE FROM audit_node",
        ):
            with pytest.raises(Exception, match=r"append-only|permission denied"):
                conn.execute(text(statement))
            conn.rollback()


def test_verify_passes_on_the_live_log(runtime: Runtime, client: TestClient, tenant: TenantHandle) -> None:
    create(client, tenant, new_customer())
    writer_for(runtime).sign_head()
    with runtime.engine.connect() as conn:
        report = verify_log(conn, runtime.keyring.public_key("audit"))
    assert report.ok, [f.line() for f in report.findings]
    assert report.events > 0 and report.heads > 0


def _bulk_events(count: int, tenant_id: str) -> list[dict[str, Any]]:
    from callvault.core import clock

    return [
        {
            "time": clock.now(),
            "tenant_id": tenant_id,
            "actor_id": f"sa:{i % 7}",
            "actor_kind": "service_account",
            "action": "customer.read",
            "resource_type": "customer",
            "resource_id": f"r{i}",
            "subject_id": f"r{i}",
            "decision": "allow",
            "mask": "masked",
            "rule": "scope.customers:read",
            "reason": "allowed",
        }
        for i in range(count)
    ]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["seq", "time", "actor_id", "purpose", "reason", "x\u2028"]),
        st.one_of(st.none(), st.booleans(), st.integers(-(2**62), 2**62), _text),
    )
)
def test_fast_event_json_is_the_canonical_json(document: dict[str, Any]) -> None:
    from callvault.audit.log import event_json

    assert event_json(document) == merkle.canonical_json(document)


def test_imported_customers_have_a_create_event(client: TestClient, tenant: TenantHandle, auditor_key: str) -> None:
    from callvault.demo.generator import CustomerGenerator
    from tests.conftest import remember_pii

    generator = CustomerGenerator(seed=77)
    remember_pii(*generator.customers(3, start=4_000_000))
    body = b"".join(generator.jsonl_lines(3, start=4_000_000))
    response = client.post(
        "/v1/customers:import", content=body, headers={**auth(tenant.api_key), "content-type": "application/x-ndjson"}
    )
    assert response.json()["imported"] == 3
    customers = client.get("/v1/customers", headers=auth(tenant.api_key)).json()["items"]
    for customer in customers:
        report = client.get(f"/v1/audit/subjects/{customer['id']}/report", headers=auth(auditor_key)).json()
        assert next((a["action"], a["purpose"]) for a in report["accesses"]) == ("customer.create", "bulk import")


def test_an_event_on_a_whole_second_verifies(isolated_runtime: Runtime) -> None:
    """SQLite may store such a time without its fraction; the leaf holds ".000000"."""
    from datetime import UTC, datetime

    from callvault.audit.log import record_many
    from callvault.core import clock

    whole = datetime(2026, 11, 26, 15, 39, 57, tzinfo=UTC)
    clock.set_clock(lambda: whole)
    try:
        record_many(isolated_runtime, _bulk_events(3, "t-whole"))
        writer_for(isolated_runtime).sign_head()
    finally:
        clock.set_clock(None)
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert report.ok, [f.line() for f in report.findings]
    assert report.events == 3


def test_events_like_a_template_are_stored_as_append_in_stores_them(isolated_runtime: Runtime) -> None:
    """``append_like_in`` inserts a batch in one statement (template columns bound once);
    every column of every row, as the driver returns it, equals what ``append_in`` stores
    for the same events, and the log verifies."""
    import uuid

    from callvault.access.actor import Actor
    from callvault.access.decision import Decision, Resource
    from callvault.audit.log import build_event
    from callvault.core.db import system_session

    template = build_event(
        actor=Actor.operator("acme"),
        action="customer.create",
        resource=Resource(type="customer", tenant_id="acme"),
        decision=Decision(True, "none", "test", "allowed"),
        purpose="bulk import",
    )
    subjects = [str(uuid.uuid4()) for _ in range(37)]
    writer = writer_for(isolated_runtime)
    with isolated_runtime.sessions() as db_session, db_session.begin():
        reference = writer.append_in(db_session, [{**template, "resource_id": s, "subject_id": s} for s in subjects])
    with isolated_runtime.sessions() as db_session, db_session.begin():
        assembled = writer.append_like_in(db_session, template, subjects)
    assert assembled == list(range(reference[-1] + 1, reference[-1] + 1 + len(subjects)))
    sqlite = isolated_runtime.engine.dialect.name == "sqlite"
    columns = ", ".join(f"{name}, typeof({name})" if sqlite else name for name in log_columns())
    with system_session(isolated_runtime.sessions) as db_session:  # every tenant's rows (PostgreSQL's RLS)
        rows = db_session.connection().exec_driver_sql(f"SELECT seq, {columns} FROM audit_event").all()
    by_seq = {row[0]: tuple(row[1:]) for row in rows}
    for old, new in zip(reference, assembled, strict=True):
        assert by_seq[old] == by_seq[new]
    writer.sign_head()
    with isolated_runtime.engine.connect() as conn:
        report = verify_log(conn, isolated_runtime.keyring.public_key("audit"))
    assert report.ok, [f.line() for f in report.findings]
    assert report.events == 2 * len(subjects)


def log_columns() -> list[str]:
    """Every stored column but ``seq`` and the leaf (which commits to ``seq``)."""
    from callvault.audit.log import EVENT_FIELDS

    return [name for name in EVENT_FIELDS if name != "seq"]
