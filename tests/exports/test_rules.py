"""Who may export, the chain's rules, delivery limits, expiry, and bad input."""

from __future__ import annotations

import csv
import io
import os
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.audit.models import AuditEvent
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.exports import service
from callvault.exports.models import ExportRequest
from tests.access.identity.conftest import FakeClock
from tests.conftest import TenantHandle, auth
from tests.exports.conftest import (
    Staff,
    approve_all,
    import_customers,
    request_export,
    step_up,
    vote,
    wait_generated,
)

BODY = {"fields": ["name", "mobile"], "purpose": "Quarterly retention campaign list"}


def _events(runtime: Runtime, tenant_id: str, action: str) -> list[AuditEvent]:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action)
        return list(db_session.scalars(query))


def test_agents_interns_auditors_and_service_accounts_cannot_request(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    for who in (staff.agent, staff.intern, staff.auditor):
        answer = client.post("/v1/exports", json=BODY, headers=who.headers)
        assert answer.status_code == 403, (who.person.role, answer.text)
    assert client.post("/v1/exports", json=BODY, headers=auth(tenant.reveal_key)).status_code == 403
    denied = [e for e in _events(runtime, tenant.id, "export.request") if e.decision == "deny"]
    assert {e.actor_role for e in denied} >= {"agent", "intern", "auditor"}
    assert any(e.rule == "intern.never" for e in denied)


def test_chain_order_self_approval_and_denial(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    import_customers(client, tenant, 10, seed=3)
    export = request_export(client, staff.supervisor, **BODY)
    # the requester cannot approve, through either door
    step_up(client, staff.supervisor, fake_clock)
    own = client.post(f"/v1/approvals/{export['approval_id']}:approve", json={}, headers=staff.supervisor.headers)
    assert own.status_code == 403 and own.json()["code"] == "approval.self_approval"
    # a role outside the chain cannot either; the DPO waits for the security officer
    outside = vote(client, staff.admin, export["id"], fake_clock)  # not in this chain: it is not theirs to see
    assert outside.status_code == 404 and outside.json()["code"] == "approval.not_found"
    assert vote(client, staff.dpo, export["id"], fake_clock).json()["code"] == "approval.not_your_level"
    inbox = client.get("/v1/approvals", params={"status": "pending"}, headers=staff.dpo.headers).json()["items"]
    assert not [item for item in inbox if item["id"] == export["approval_id"] and item["may_decide"]]
    # one "no" closes it
    assert vote(client, staff.security, export["id"], fake_clock, approve=False).status_code == 200
    read = client.get(f"/v1/exports/{export['id']}", headers=staff.supervisor.headers).json()
    assert read["status"] == "denied"
    step_up(client, staff.supervisor, fake_clock)
    refused = client.get(f"/v1/exports/{export['id']}/download", headers=staff.supervisor.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "export.not_ready"
    assert vote(client, staff.dpo, export["id"], fake_clock).status_code == 409


def test_expired_request_and_expired_file_cannot_be_downloaded(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    import_customers(client, tenant, 25, seed=4)
    stale = request_export(client, staff.supervisor, **BODY)
    fresh = request_export(client, staff.supervisor, **BODY)
    approve_all(client, runtime, staff, fresh, fake_clock)

    fake_clock.advance(hours=73)  # past the request lifetime (72 h) and the file's (24 h)
    for member in (staff.security, staff.dpo, staff.supervisor):
        from tests.access.approvals.conftest import relogin

        relogin(client, member, fake_clock)
    late = vote(client, staff.security, stale["id"], fake_clock)
    assert late.status_code == 409 and late.json()["code"] == "approval.expired"
    assert client.get(f"/v1/exports/{stale['id']}", headers=staff.supervisor.headers).json()["status"] == "expired"
    step_up(client, staff.supervisor, fake_clock)
    for export, code in ((stale, "export.not_ready"), (fresh, "export.expired")):
        answer = client.get(f"/v1/exports/{export['id']}/download", headers=staff.supervisor.headers)
        assert answer.status_code == 409 and answer.json()["code"] == code, answer.text
    failed = [e for e in _events(runtime, tenant.id, "export.download") if e.outcome == "failed"]
    assert {e.reason for e in failed} >= {"export.not_ready", "export.expired"}

    # the sweep deletes the file and its key; the row stays, and a leak still traces
    blobs = runtime.blobs
    keys = [f"exports/{tenant.id}/{fresh['id']}.{fmt}.sealed" for fmt in ("csv", "xlsx")]
    assert all(blobs.exists(key) for key in keys)
    assert service.sweep_expired(runtime) >= 1
    assert not any(blobs.exists(key) for key in keys)
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        row = db_session.get(ExportRequest, (tenant.id, uuid.UUID(fresh["id"])))
        assert row is not None and row.status == "deleted"
    assert _events(runtime, tenant.id, "export.delete")


def test_only_the_requester_downloads_and_step_up_first(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    import_customers(client, tenant, 12, seed=5)
    export = request_export(client, staff.supervisor, **BODY)
    approve_all(client, runtime, staff, export, fake_clock)
    step_up(client, staff.supervisor2, fake_clock)
    other = client.get(f"/v1/exports/{export['id']}/download", headers=staff.supervisor2.headers)
    assert other.status_code == 404  # another supervisor does not even see it
    step_up(client, staff.admin, fake_clock)
    admin = client.get(f"/v1/exports/{export['id']}/download", headers=staff.admin.headers)
    assert admin.status_code == 403 and admin.json()["code"] == "export.not_requester"
    assert any(e.rule == "export.not_requester" for e in _events(runtime, tenant.id, "export.download"))
    fake_clock.advance(minutes=6)
    stale = client.get(f"/v1/exports/{export['id']}/download", headers=staff.supervisor.headers)
    assert stale.status_code == 401
    step_up(client, staff.supervisor, fake_clock)
    xlsx = client.get(
        f"/v1/exports/{export['id']}/download", params={"format": "xlsx"}, headers=staff.supervisor.headers
    )
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")


def test_clear_fields_and_many_rows_need_the_extra_level(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    import_customers(client, tenant, 20, seed=6)
    clear = request_export(client, staff.supervisor, fields=["name", "mobile"], unmasked_fields=["mobile"])
    assert clear["levels"] == ["security_officer", "dpo", "tenant_admin"]
    approve_all(client, runtime, staff, clear, fake_clock)
    step_up(client, staff.supervisor, fake_clock)
    body = client.get(f"/v1/exports/{clear['id']}/download", params={"format": "csv"}, headers=staff.supervisor.headers)
    rows = list(csv.reader(io.StringIO(body.content.decode("utf-8-sig"))))[2:-1]
    assert rows and all("*" not in row[1] and "*" in row[0] for row in rows)  # mobile clear, name masked

    # a tenant admin lowers the row threshold (after a step-up); a supervisor may not
    settings = {
        "levels": ["security_officer", "dpo"],
        "extra_level": "tenant_admin",
        "rows_threshold": 5,
        "max_downloads": 2,
        "file_hours": 12,
        "request_hours": 24,
    }
    assert client.put("/v1/exports/settings", json=settings, headers=staff.supervisor.headers).status_code == 403
    step_up(client, staff.admin, fake_clock)
    assert client.put("/v1/exports/settings", json=settings, headers=staff.admin.headers).status_code == 200
    many = request_export(client, staff.supervisor, **BODY)
    assert many["levels"] == ["security_officer", "dpo", "tenant_admin"] and many["max_rows"] is None
    few = request_export(client, staff.supervisor, filters={"region": "nowhere"}, **BODY)
    assert few["levels"] == ["security_officer", "dpo"] and few["max_rows"] == 5 and few["max_downloads"] == 2


def test_empty_export_is_generated_and_audited(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    export = request_export(client, staff.supervisor, filters={"region": "nowhere"}, **BODY)
    assert export["estimated_rows"] == 0
    approve_all(client, runtime, staff, export, fake_clock)
    read = client.get(f"/v1/exports/{export['id']}", headers=staff.supervisor.headers).json()
    assert read["status"] == "ready" and read["row_count"] == 0
    generated = [e for e in _events(runtime, tenant.id, "export.generated") if e.resource_id == export["id"]]
    assert generated and generated[0].reason.startswith("0 rows")


def test_bad_requests(client: TestClient, tenant: TenantHandle, make_staff) -> None:  # type: ignore[no-untyped-def]
    staff: Staff = make_staff(tenant.id)
    cases = [
        ({"fields": ["name", "shoe_size"], "purpose": "Quarterly retention"}, "export.field_unknown"),
        (
            {"fields": ["name"], "unmasked_fields": ["mobile"], "purpose": "Quarterly retention"},
            "export.unmasked_invalid",
        ),
        (
            {"fields": ["region"], "unmasked_fields": ["region"], "purpose": "Quarterly retention"},
            "export.unmasked_invalid",
        ),
        ({"fields": [], "purpose": "Quarterly retention"}, None),
        ({"fields": ["name"], "purpose": "short"}, None),
        ({"fields": ["name"], "purpose": "Quarterly retention", "required": 0}, None),
    ]
    for body, code in cases:
        answer = client.post("/v1/exports", json=body, headers=staff.supervisor.headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if code:
            assert answer.json()["code"] == code
    # the security officer cannot export the bank card their role never sees
    hidden = client.post(
        "/v1/exports", json={"fields": ["bank_card"], "purpose": "Quarterly retention"}, headers=staff.security.headers
    )
    assert hidden.status_code == 422 and hidden.json()["code"] == "export.field_hidden"
    assert client.get(f"/v1/exports/{uuid.uuid4()}", headers=staff.supervisor.headers).status_code == 404
    assert client.get("/v1/exports/not-an-id", headers=staff.supervisor.headers).status_code == 422


def test_trace_refuses_what_is_not_a_table(client: TestClient, tenant: TenantHandle, make_staff) -> None:  # type: ignore[no-untyped-def]
    staff: Staff = make_staff(tenant.id)
    headers = {**staff.security.headers, "content-type": "application/octet-stream"}
    for data in (
        b"\x89PNG\r\n\x1a\n" + os.urandom(200),
        os.urandom(4096),
        b"PK\x03\x04" + os.urandom(300),
        b"",
        b"%PDF-1.7\n",
    ):
        answer = client.post("/v1/exports:trace", content=data, headers=headers)
        assert answer.status_code == 400, (data[:8], answer.text)
        assert answer.json()["code"] == "export.trace_format"
    big = client.post("/v1/exports:trace", content=b"a," * (service.TRACE_MAX_BYTES // 2 + 1), headers=headers)
    assert big.status_code == 413


def test_chain_finished_through_the_approvals_routes_is_picked_up(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_staff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff: Staff = make_staff(tenant.id)
    import_customers(client, tenant, 8, seed=8)
    export = request_export(client, staff.supervisor, **BODY)
    for who in (staff.security, staff.dpo):
        step_up(client, who, fake_clock)
        answer = client.post(f"/v1/approvals/{export['approval_id']}:approve", json={}, headers=who.headers)
        assert answer.status_code == 200, answer.text
    assert service.sync_pending(runtime) >= 1  # what the exports loop of `callvault serve` runs every minute
    assert wait_generated(runtime, tenant.id, export["id"]) == "ready"
    read = client.get(f"/v1/exports/{export['id']}", headers=staff.supervisor.headers).json()
    assert read["status"] == "ready" and read["row_count"] == 8
