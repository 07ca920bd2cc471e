"""Search quotas and the enumeration alert on the shared counters; full data for a tenant
admin only after two other people approve. Real app, database, counters and people."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.policy import PolicyOverride, update_tenant_policy
from callvault.audit.models import AuditEvent
from callvault.core import clock
from callvault.core.db import set_tenant, system_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock
from tests.access.test_matrix import REASON, Member, World, _login, _person, _refresh_step_up, world  # noqa: F401
from tests.conftest import TenantHandle, auth, remember_pii
from tests.vault.customers.test_api import create, new_customer


def _override(runtime: Runtime, tenant_id: str, **limits: int) -> None:
    with runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, tenant_id)
        update_tenant_policy(db_session, tenant_id=tenant_id, override=PolicyOverride(limits=limits), by="test")


def _events(runtime: Runtime, tenant_id: str, action: str) -> list[AuditEvent]:
    with system_session(runtime.sessions) as db_session:
        return list(
            db_session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action))
        )


@pytest.fixture
def pinned() -> Iterator[FakeClock]:
    fake = FakeClock()
    clock.set_clock(fake)
    try:
        yield fake
    finally:
        clock.set_clock(None)


def test_searches_are_rate_limited_per_actor_with_retry_after(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, pinned: FakeClock
) -> None:
    _override(runtime, tenant.id, service_search_per_minute=5)
    statuses = [
        client.post("/v1/customers:search", json={"mobile_last4": "1234"}, headers=auth(tenant.api_key)).status_code
        for _ in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    refused = client.post("/v1/customers:search", json={"mobile_last4": "1234"}, headers=auth(tenant.api_key))
    assert refused.json()["code"] == "quota.search_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # another key of the same tenant has its own budget
    assert client.get("/v1/customers", headers=auth(tenant.readonly_key)).status_code == 200
    pinned.advance(seconds=61)
    assert (
        client.post("/v1/customers:search", json={"mobile_last4": "1234"}, headers=auth(tenant.api_key)).status_code
        == 200
    )


def test_a_burst_of_missed_searches_is_one_enumeration_event(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, pinned: FakeClock
) -> None:
    _override(runtime, tenant.id, enumeration_misses=8, enumeration_window_seconds=300)
    row = new_customer()
    create(client, tenant, row)
    prefix = row["mobile"][:7]
    for last in range(30):  # walking the hidden digits of a masked number
        guess = f"{prefix}{last:04d}"
        remember_pii(guess)
        response = client.post("/v1/customers:search", json={"mobile": guess}, headers=auth(tenant.api_key))
        assert response.status_code in (200, 422)
    alerts = _events(runtime, tenant.id, "search.enumeration_suspected")
    assert len(alerts) == 1 and alerts[0].rule == "monitor.search_enumeration"
    hits = client.post("/v1/customers:search", json={"mobile": row["mobile"]}, headers=auth(tenant.api_key))
    assert len(hits.json()) == 1  # a found search is not a miss
    assert len(_events(runtime, tenant.id, "search.enumeration_suspected")) == 1


def test_full_data_for_an_admin_waits_for_two_other_approvers(
    client: TestClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    admin, officer = world.members["tenant_admin"], world.members["security_officer"]
    dpo = world.members["dpo"]  # not an approver by default
    second_officer = _person(runtime, world.tenant.id, "security_officer")
    _login(client, world.tenant.id, second_officer, world.clock)
    target = world.unassigned
    for member in (admin, officer, second_officer):
        _refresh_step_up(client, world, member)
    url = f"/v1/customers/{target['id']}:reveal"
    body = {"fields": ["mobile"], "reason": REASON}
    before = client.post(url, json=body, headers=auth(admin.token))
    assert before.status_code == 403 and before.json()["code"] == "approval.required"
    asked = client.post(
        "/v1/approvals",
        json={"kind": "full_data", "target": {"customer_ids": [target["id"]]},
              "justification": "regulator asked for the complete record of this complaint"},
        headers=auth(admin.token),
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    approval_id = asked.json()["id"]
    own = client.post(f"/v1/approvals/{approval_id}:approve", json={"comment": "ok"}, headers=auth(admin.token))
    assert own.status_code == 403
    first = client.post(f"/v1/approvals/{approval_id}:approve", json={"comment": "ok"}, headers=auth(officer.token))
    assert first.status_code == 200, first.text
    assert client.post(url, json=body, headers=auth(admin.token)).status_code == 403  # one is not enough
    not_approver = client.post(f"/v1/approvals/{approval_id}:approve", json={"comment": "ok"}, headers=auth(dpo.token))
    assert not_approver.status_code in (403, 404)
    world.clock.advance(minutes=6)  # a vote needs a recent step-up
    stale = client.post(
        f"/v1/approvals/{approval_id}:approve", json={"comment": "ok"}, headers=auth(second_officer.token)
    )
    assert stale.status_code == 401 and stale.json()["code"] == "auth.step_up_required"
    for member in (admin, second_officer):
        _refresh_step_up(client, world, member)
    second = client.post(
        f"/v1/approvals/{approval_id}:approve", json={"comment": "ok"}, headers=auth(second_officer.token)
    )
    assert second.status_code == 200 and second.json()["status"] == "approved"
    shown = client.post(url, json=body, headers=auth(admin.token))
    assert shown.status_code == 200, shown.text
    with system_session(runtime.sessions) as db_session:
        used = db_session.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == world.tenant.id,
                AuditEvent.action == "approval.use",
                AuditEvent.resource_id == approval_id,
            )
        ).all()
    assert len(used) == 1
    assert shown.json()["fields"]["mobile"] == "+86" + world.raw[target["id"]]["mobile"]
    # the approval covers that customer only
    other = client.post(f"/v1/customers/{world.members['qa'].mine['id']}:reveal", json=body, headers=auth(admin.token))
    assert other.status_code == 403
    world.clock.advance(minutes=61)  # the approval window (1 hour) has closed
    _login(client, world.tenant.id, admin, world.clock)
    late = client.post(url, json=body, headers=auth(admin.token))
    assert late.status_code == 403 and late.json()["code"] == "approval.required"
