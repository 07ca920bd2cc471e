"""The approval flow over HTTP with real people: two approvals needed, never the
requester, one vote each, a "no" ends it, expiry, the grant window, tenant isolation,
every step in the audit log, and the justification in no log line."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.actor import Actor
from callvault.access.approvals import service
from callvault.access.approvals.models import Approval
from callvault.access.decision import Resource
from callvault.audit.models import AuditEvent
from callvault.core import clock
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from tests.access.approvals.conftest import Staff, relogin
from tests.access.identity.conftest import FakeClock
from tests.conftest import CAPTURED_LOGS, TenantHandle, auth, remember_pii

MakeStaff = Callable[[str], Staff]


def _request(client: TestClient, staff: Staff, customer_id: str, justification: str) -> dict:  # type: ignore[type-arg]
    created = client.post(
        "/v1/approvals",
        json={
            "kind": "full_data",
            "target": {"customer_ids": [customer_id], "fields": ["mobile"]},
            "justification": justification,
        },
        headers=staff.requester.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def _active(runtime: Runtime, tenant_id: str, requester_id: str, customer_id: str, at: datetime) -> Approval | None:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        return service.active_approval(
            db_session=db_session,
            tenant_id=tenant_id,
            requester_id=requester_id,
            kind="full_data",
            covers=lambda target: customer_id in target.get("customer_ids", ()),
            at=at,
        )


def _events(runtime: Runtime, tenant_id: str, approval_id: str) -> list[AuditEvent]:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        query = (
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.resource_id == approval_id)
            .order_by(AuditEvent.seq)
        )
        return list(db_session.scalars(query))


def test_two_approvals_open_a_time_boxed_window(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    customer = str(uuid.uuid4())
    justification = f"Fraud case FC-{uuid.uuid4().hex[:8]}: confirm the caller's number"
    remember_pii(justification)
    body = _request(client, staff, customer, justification)
    approval_id = body["id"]
    assert body["status"] == "pending" and body["required"] == 2 and body["approvals"] == 0
    assert body["approver_roles"] == ["tenant_admin", "security_officer"]
    assert body["requested_by_me"] and not body["may_decide"] and body["justification"] is None

    # the approvers' inbox; the agent sees nothing, the auditor sees it read-only
    inbox = client.get("/v1/approvals", params={"status": "pending"}, headers=staff.admin.headers).json()
    mine = [item for item in inbox["items"] if item["id"] == approval_id]
    assert len(mine) == 1 and mine[0]["may_decide"] and not mine[0]["requested_by_me"]
    assert approval_id not in [
        i["id"] for i in client.get("/v1/approvals", headers=staff.agent.headers).json()["items"]
    ]
    audited = client.get("/v1/approvals", headers=staff.auditor.headers).json()["items"]
    assert [i["may_decide"] for i in audited if i["id"] == approval_id] == [False]
    detail = client.get(f"/v1/approvals/{approval_id}", headers=staff.security.headers)
    assert detail.status_code == 200 and detail.json()["justification"] == justification
    assert client.get(f"/v1/approvals/{approval_id}", headers=staff.agent.headers).status_code == 404

    # the requester cannot approve; neither can a role outside the chain nor a service account
    own = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.requester.headers)
    assert own.status_code == 403 and own.json()["code"] == "approval.self_approval"
    auditor = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.auditor.headers)
    assert auditor.status_code == 403 and auditor.json()["code"] == "approval.not_an_approver"
    assert client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.agent.headers).status_code == 404
    machine = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=auth(tenant.api_key))
    assert machine.status_code in (403, 404)

    first = client.post(
        f"/v1/approvals/{approval_id}:approve", json={"comment": "ok for FC"}, headers=staff.admin.headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending" and first.json()["approvals"] == 1
    again = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "approval.already_decided"
    assert _active(runtime, tenant.id, staff.requester.actor_id, customer, clock.now()) is None

    second = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.security.headers)
    assert second.status_code == 200, second.text
    granted = second.json()
    now = clock.now()
    assert granted["status"] == "approved" and granted["approvals"] == 2 and granted["active"]
    assert datetime.fromisoformat(granted["valid_from"]) == now
    assert datetime.fromisoformat(granted["valid_until"]) == now + timedelta(hours=1)
    comments = {vote["approver_id"]: vote["comment"] for vote in granted["votes"]}
    assert comments == {staff.admin.actor_id: "ok for FC", staff.security.actor_id: None}

    # the PDP hook: this requester, this kind, a covered customer, inside the window only
    found = _active(runtime, tenant.id, staff.requester.actor_id, customer, now + timedelta(minutes=59))
    assert found is not None and str(found.id) == approval_id
    assert _active(runtime, tenant.id, staff.requester.actor_id, str(uuid.uuid4()), now) is None
    assert _active(runtime, tenant.id, staff.admin.actor_id, customer, now) is None
    assert _active(runtime, tenant.id, staff.requester.actor_id, customer, now + timedelta(hours=1)) is None
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        requester = Actor(tenant.id, staff.requester.actor_id, "user", role="tenant_admin")
        service.mark_used(
            db_session=db_session, actor=requester, approval=found, resource=Resource("customer", tenant.id, customer)
        )

    closed = client.post(f"/v1/approvals/{approval_id}:deny", json={}, headers=staff.auditor.headers)
    assert closed.status_code == 403  # still not an approver, even once it is closed

    events = _events(runtime, tenant.id, approval_id)
    actions = [event.action for event in events]
    for step in (
        "approval.create",
        "approval.request",
        "approval.read",
        "approval.approve",
        "approval.grant",
        "approval.use",
    ):
        assert step in actions, step
    assert actions.count("approval.approve") == 2
    refused = {event.rule for event in events if event.action == "approval.decide" and event.decision == "deny"}
    assert {"approval.self_approval", "approval.not_an_approver"} <= refused
    failed = [event.reason for event in events if event.outcome == "failed"]
    assert "approval.already_decided" in failed
    # ids only: the justification is in no event and in no log line
    for event in events:
        assert justification not in f"{event.purpose} {event.reason}"
    assert not [line for line in CAPTURED_LOGS if justification in line]
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        stored = db_session.get(Approval, (tenant.id, uuid.UUID(approval_id)))
        assert stored is not None and justification.encode() not in stored.justification_ct


def test_a_deny_ends_the_request(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    approval_id = _request(client, staff, str(uuid.uuid4()), "Quarterly reconciliation of disputed calls")["id"]
    assert client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.admin.headers).status_code == 200
    denied = client.post(
        f"/v1/approvals/{approval_id}:deny", json={"comment": "use the masked report"}, headers=staff.security.headers
    )
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    seen = client.get(f"/v1/approvals/{approval_id}", headers=staff.requester.headers).json()
    assert seen["status"] == "denied" and not seen["active"]
    comments = {vote["approver_id"]: (vote["approve"], vote["comment"]) for vote in seen["votes"]}
    assert comments == {staff.admin.actor_id: (True, None), staff.security.actor_id: (False, "use the masked report")}
    # nobody can revive it
    third = make_staff(tenant.id).admin
    late = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=third.headers)
    assert late.status_code == 409 and late.json()["code"] == "approval.closed"
    listed = client.get("/v1/approvals", params={"status": "denied"}, headers=staff.requester.headers).json()
    assert approval_id in [item["id"] for item in listed["items"]]
    assert "approval.deny" in [event.action for event in _events(runtime, tenant.id, approval_id)]


def test_expired_requests_cannot_be_decided(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    approval_id = _request(client, staff, str(uuid.uuid4()), "Audit sample for the regulator visit")["id"]
    fake_clock.advance(hours=24, seconds=1)
    for who in (staff.requester, staff.admin):
        relogin(client, who, fake_clock)
    late = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=staff.admin.headers)
    assert late.status_code == 409 and late.json()["code"] == "approval.expired"
    seen = client.get(f"/v1/approvals/{approval_id}", headers=staff.requester.headers).json()
    assert seen["status"] == "expired"
    expired = client.get("/v1/approvals", params={"status": "expired"}, headers=staff.requester.headers).json()
    assert approval_id in [item["id"] for item in expired["items"]]
    pending = client.get("/v1/approvals", params={"status": "pending"}, headers=staff.requester.headers).json()
    assert approval_id not in [item["id"] for item in pending["items"]]

    assert service.expire_due(runtime) >= 1
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        stored = db_session.get(Approval, (tenant.id, uuid.UUID(approval_id)))
        assert stored is not None and stored.status == "expired"
    actions = [event.action for event in _events(runtime, tenant.id, approval_id)]
    assert actions.count("approval.expire") == 1
    service.expire_due(runtime)  # a second pass finds nothing new
    assert [event.action for event in _events(runtime, tenant.id, approval_id)].count("approval.expire") == 1


def test_other_tenants_cannot_see_or_decide(
    client: TestClient,
    tenant: TenantHandle,
    make_tenant: Callable[[], TenantHandle],
    make_staff: MakeStaff,
    fake_clock: FakeClock,
) -> None:
    staff = make_staff(tenant.id)
    approval_id = _request(client, staff, str(uuid.uuid4()), "Chargeback dispute evidence needed")["id"]
    other = make_staff(make_tenant().id)
    assert client.get(f"/v1/approvals/{approval_id}", headers=other.admin.headers).status_code == 404
    decided = client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=other.admin.headers)
    assert decided.status_code == 404
    assert approval_id not in [
        i["id"] for i in client.get("/v1/approvals", headers=other.admin.headers).json()["items"]
    ]
    assert approval_id not in [
        i["id"] for i in client.get("/v1/approvals", headers=other.auditor.headers).json()["items"]
    ]


def test_offboarding_revokes_the_requesters_approvals(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    customer = str(uuid.uuid4())
    approval_id = _request(client, staff, customer, "Bulk correction of wrongly merged records")["id"]
    for approver in (staff.admin, staff.security):
        assert client.post(f"/v1/approvals/{approval_id}:approve", json={}, headers=approver.headers).status_code == 200
    assert _active(runtime, tenant.id, staff.requester.actor_id, customer, clock.now()) is not None
    disabled = client.patch(
        f"/v1/users/{staff.requester.person.id}", json={"status": "disabled"}, headers=staff.admin.headers
    )
    assert disabled.status_code == 200, disabled.text
    assert _active(runtime, tenant.id, staff.requester.actor_id, customer, clock.now()) is None
    seen = client.get(f"/v1/approvals/{approval_id}", headers=staff.admin.headers).json()
    assert seen["status"] == "revoked"


def test_bad_requests_are_refused(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, make_staff: MakeStaff, fake_clock: FakeClock
) -> None:
    staff = make_staff(tenant.id)
    headers = staff.requester.headers
    good = {"kind": "full_data", "target": {"scope": "tenant"}, "justification": "Annual data quality review"}
    cases = [
        {**good, "justification": "too short"},
        {**good, "justification": "Needs a NUL \x00 in it"},
        {**good, "kind": "export"},  # exports open their own requests, with their own chain
        {**good, "required": 1},  # the requester never chooses the chain
        {**good, "target": {}},
        {**good, "target": {"customer_ids": ["a b"]}},
        {**good, "target": {"Customer": "x"}},
        {**good, "target": {"customer_ids": [{"nested": 1}]}},
        {**good, "target": {"mobile": "13812345678"}},  # personal data, not an id
        {**good, "target": {"email": "zhang.san@example.com"}},
    ]
    remember_pii("zhang.san@example.com")
    for case in cases:
        response = client.post("/v1/approvals", json=case, headers=headers)
        assert 400 <= response.status_code < 500 and response.status_code != 404, (case, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    ids = {"customer_ids": [str(uuid.uuid4()) for _ in range(50)], "fields": ["mobile", "id_number"], "all": False}
    assert client.post("/v1/approvals", json={**good, "target": ids}, headers=headers).status_code == 201
    assert client.post("/v1/approvals/not-a-uuid:approve", json={}, headers=headers).status_code == 422
    missing = client.post(f"/v1/approvals/{uuid.uuid4()}:approve", json={}, headers=staff.admin.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "approval.not_found"
    assert client.get("/v1/approvals", params={"status": "bogus"}, headers=headers).status_code == 422
    assert client.post("/v1/approvals", json=good, headers=auth(tenant.api_key)).status_code == 403
