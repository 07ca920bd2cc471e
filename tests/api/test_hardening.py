"""Hardening of the request path: NUL bytes, body limits, the one 500, truthful audit
outcomes, sealed reasons, pages that survive a corrupted row. Real app, database, crypto."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from callvault.api.app import create_app
from callvault.audit.models import AuditEvent
from callvault.core.db import system_session
from callvault.core.runtime import Runtime
from tests.conftest import CAPTURED_LOGS, TenantHandle, auth, owner_engine, remember_pii
from tests.vault.customers.test_api import create, new_customer


def _events(runtime: Runtime, tenant_id: str, **where: str) -> list[AuditEvent]:
    with system_session(runtime.sessions) as db_session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return list(db_session.scalars(query.order_by(AuditEvent.seq)))


# -- NUL bytes and body limits -------------------------------------------------------------
def test_nul_bytes_are_refused_at_the_edge_on_every_backend(client: TestClient, tenant: TenantHandle) -> None:
    remember_pii("18200007764")
    created = create(client, tenant, new_customer())
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "post",
            f"/v1/customers/{created['id']}:reveal",
            {"json": {"fields": ["mobile"], "reason": "abcd\u0000 陈英 18200007764"}},
        ),
        ("post", "/v1/customers", {"json": {"name": "陈\u0000英", "external_ref": "nul-1"}}),
        ("post", "/v1/customers:search", {"json": {"external_ref": "a\u0000b"}}),
        ("patch", f"/v1/customers/{created['id']}", {"json": {"address": "x\u0000"}}),
        ("get", "/v1/customers?cursor=%00", {}),
        ("post", "/v1/pii/redact", {"json": {"texts": ["hi\u0000 18200007764"], "mode": "mask"}}),
    ]
    for method, url, kwargs in cases:
        response = getattr(client, method)(url, headers=auth(tenant.reveal_key), **kwargs)
        assert response.status_code == 422, (url, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "request.nul_byte"
        assert "18200007764" not in response.text
    # nothing was stored or changed
    again = client.get(f"/v1/customers/{created['id']}", headers=auth(tenant.api_key)).json()
    assert again == created


def test_json_bodies_are_limited_as_they_arrive(client: TestClient, tenant: TenantHandle) -> None:
    huge = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post(
        "/v1/customers", content=huge, headers={**auth(tenant.api_key), "content-type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["code"] == "request.too_large"

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b"x" * 65536

    streamed = client.post(
        "/v1/customers", content=chunks(), headers={**auth(tenant.api_key), "content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_create_needs_something_that_identifies_a_customer(client: TestClient, tenant: TenantHandle) -> None:
    for body in ({}, {"membership_level": "gold"}, {"region": "cn-east", "assigned_agent": "a1"}):
        response = client.post("/v1/customers", json=body, headers=auth(tenant.api_key))
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["code"] == "customer.no_identifier"


def test_full_width_digits_are_one_number(client: TestClient, tenant: TenantHandle) -> None:
    row = new_customer()
    full_width = row["mobile"].translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    created = create(client, tenant, {**row, "mobile": full_width})
    found = client.post("/v1/customers:search", json={"mobile": row["mobile"]}, headers=auth(tenant.api_key))
    assert [item["id"] for item in found.json()] == [created["id"]]
    assert created["mobile"] == row["mobile"][:3] + "****" + row["mobile"][-4:]


# -- the one 500 ---------------------------------------------------------------------------
def test_an_unexpected_error_is_a_problem_500_and_logs_no_locals_or_message(runtime: Runtime) -> None:
    secret_phone = "13987654321"
    secret_key = "cvk_0123456789abcdef.wpmSECRETSECRET"
    remember_pii(secret_phone, secret_key)
    app = create_app(runtime)

    @app.get("/v1/_boom")
    def boom() -> None:
        reason = f"caller {secret_phone}"
        credentials = secret_key
        raise ValueError(f"could not store {reason} with {credentials}")

    before = len(CAPTURED_LOGS)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/v1/_boom", headers={"x-request-id": "req-boom-1"})
        assert test_client.get("/healthz").status_code == 200
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "internal.error" and response.json()["instance"] == "req-boom-1"
    logged = "\n".join(CAPTURED_LOGS[before:])
    assert "req-boom-1" in logged and "ValueError" in logged and "/v1/_boom" in logged
    for leaked in (secret_phone, secret_key, "wpm", "reason=", "credentials="):
        assert leaked not in logged


# -- truthful audit ------------------------------------------------------------------------
def test_every_event_records_the_outcome(client: TestClient, runtime: Runtime, make_tenant) -> None:  # type: ignore[no-untyped-def]
    a, b = make_tenant(), make_tenant()
    theirs = create(client, b, new_customer())
    url = f"/v1/customers/{theirs['id']}"
    assert client.get(url, headers=auth(a.api_key)).status_code == 404
    assert client.patch(url, json={"region": "x"}, headers=auth(a.api_key)).status_code == 404
    assert client.delete(url, headers=auth(a.api_key)).status_code == 404
    missing = uuid.uuid4()
    body = {"fields": ["mobile"], "reason": "customer asked to verify"}
    assert client.post(f"/v1/customers/{missing}:reveal", json=body, headers=auth(a.reveal_key)).status_code == 404
    mine = create(client, a, new_customer())
    assert client.post(f"/v1/customers/{mine['id']}:reveal", json=body, headers=auth(a.api_key)).status_code == 403
    assert client.get(f"/v1/customers/{mine['id']}", headers=auth(a.api_key)).status_code == 200

    outcomes = {(e.action, e.resource_id): (e.decision, e.outcome) for e in _events(runtime, a.id)}
    for action in ("customer.read", "customer.update", "customer.delete"):
        assert outcomes[(action, theirs["id"])] == ("allow", "not_found"), action
    assert outcomes[("customer.reveal", str(missing))] == ("allow", "not_found")
    assert outcomes[("customer.reveal", mine["id"])] == ("deny", "denied")
    assert outcomes[("customer.read", mine["id"])] == ("allow", "done")
    assert not _events(runtime, b.id, action="customer.delete")  # nothing lands in the other tenant's log


def test_conflicts_are_recorded_as_failed(client: TestClient, runtime: Runtime, tenant: TenantHandle) -> None:
    row = new_customer()
    create(client, tenant, row)
    again = client.post("/v1/customers", json=row, headers=auth(tenant.api_key))
    assert again.status_code == 409
    failed = _events(runtime, tenant.id, action="customer.create", outcome="failed")
    assert [e.reason for e in failed] == ["customer.external_ref_exists"]


def test_a_reveal_reason_is_sealed_under_the_subjects_key(
    client: TestClient, runtime: Runtime, tenant: TenantHandle
) -> None:
    from callvault.vault.customers.service import open_audit_purpose

    remember_pii("陈英要求核实身份以便办理业务")
    created = create(client, tenant, new_customer(name="陈英"))
    reason = "陈英要求核实身份以便办理业务"
    shown = client.post(
        f"/v1/customers/{created['id']}:reveal",
        json={"fields": ["name"], "reason": reason},
        headers=auth(tenant.reveal_key),
    )
    assert shown.status_code == 200
    (event,) = _events(runtime, tenant.id, action="customer.reveal")
    assert event.purpose and "陈" not in event.purpose and event.purpose.startswith("sealed:v1:")
    with system_session(runtime.sessions) as db_session:
        opened = open_audit_purpose(db_session, tenant_id=tenant.id, subject_id=created["id"], stored=event.purpose)
    assert opened == reason
    assert client.delete(f"/v1/customers/{created['id']}", headers=auth(tenant.api_key)).status_code == 204
    with system_session(runtime.sessions) as db_session:
        assert (
            open_audit_purpose(db_session, tenant_id=tenant.id, subject_id=created["id"], stored=event.purpose) is None
        )


# -- a corrupted row does not take the page down ------------------------------------------
def test_a_corrupted_ciphertext_is_marked_and_the_page_survives(
    client: TestClient, runtime: Runtime, tenant: TenantHandle
) -> None:
    rows = [create(client, tenant, new_customer()) for _ in range(3)]
    broken = rows[1]["id"]
    engine = owner_engine(runtime)
    try:
        with engine.begin() as conn:
            key = uuid.UUID(broken).hex if engine.dialect.name == "sqlite" else uuid.UUID(broken)
            conn.execute(
                text("UPDATE customer SET mobile_ct = :junk WHERE tenant_id = :t AND id = :i"),
                {"junk": b"\x01" + b"\x00" * 40, "t": tenant.id, "i": key},
            )
    finally:
        engine.dispose()
    page = client.get("/v1/customers", headers=auth(tenant.api_key))
    assert page.status_code == 200, page.text
    items = {item["id"]: item for item in page.json()["items"]}
    assert set(items) == {row["id"] for row in rows}
    assert items[broken]["error"] == "crypto.decryption_failed" and items[broken]["mobile"] is None
    assert all(items[r["id"]]["error"] is None and items[r["id"]]["mobile"] for r in rows if r["id"] != broken)
    single = client.get(f"/v1/customers/{broken}", headers=auth(tenant.api_key))
    assert single.status_code == 422 and single.json()["code"] == "crypto.decryption_failed"
    failed = _events(runtime, tenant.id, outcome="failed")
    assert {(e.action, e.resource_id, e.reason) for e in failed} == {
        ("customer.list", broken, "crypto.decryption_failed"),
        ("customer.read", broken, "crypto.decryption_failed"),
    }


@pytest.mark.parametrize("value", ["18200007764x", "x18200007764", "1820000776４a"])
def test_validators_refuse_trailing_junk(client: TestClient, tenant: TenantHandle, value: str) -> None:
    response = client.post("/v1/customers", json={"mobile": value}, headers=auth(tenant.api_key))
    assert response.status_code == 422


def test_an_unreadable_or_headerless_import_is_refused_not_empty(client: TestClient, tenant: TenantHandle) -> None:
    import os

    headers = {**auth(tenant.api_key), "content-type": "text/csv"}
    noise = client.post("/v1/customers:import", content=os.urandom(2048), headers=headers)
    assert noise.status_code == 422 and noise.json()["code"] in ("import.no_header", "import.unknown_columns")
    row = new_customer()
    headerless = f"{row['external_ref']},{row['name']},{row['mobile']}\n".encode()
    refused = client.post("/v1/customers:import", content=headerless, headers=headers)
    assert refused.status_code == 422 and refused.json()["code"] == "import.unknown_columns"
    assert row["mobile"] not in refused.text and row["name"] not in refused.text
    nothing = client.post("/v1/customers:import", content=b"", headers=headers)
    assert nothing.status_code == 422 and nothing.json()["code"] == "import.no_header"
