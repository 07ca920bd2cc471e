"""The access matrix: every role × customer route × own/other tenant × assigned /
unassigned / on a live call, against an expected-outcome table, with zero leaks.

Real people (argon2id passwords, TOTP where the role requires it), real sessions over
HTTP, the real policy decision point and the shipped default policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.access.identity import users
from callvault.core import clock
from callvault.core.db import set_tenant
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, current_code, enrol, strong_password
from tests.conftest import TenantHandle, auth
from tests.vault.customers.test_api import create, new_customer

TOTP_ROLES = {"qa", "supervisor", "tenant_admin", "security_officer", "dpo"}
ROLES = ("agent", "intern", "qa", "supervisor", "tenant_admin", "security_officer", "dpo", "auditor")
REASON = "customer on the line asked to verify"


@dataclass
class Member:
    role: str
    username: str
    password: str
    token: str = ""
    totp_secret: str | None = None
    mine: dict[str, Any] = field(default_factory=dict)  # customer assigned to this person
    live: dict[str, Any] = field(default_factory=dict)  # customer on this person's live call
    call_id: str = ""
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)  # clear values, by customer id


@dataclass
class World:
    tenant: TenantHandle
    other: TenantHandle
    members: dict[str, Member]
    unassigned: dict[str, Any]
    foreign: dict[str, Any]  # a customer of the other tenant
    raw: dict[str, dict[str, Any]]
    clock: FakeClock
    cti_key: str


def _person(runtime: Runtime, tenant_id: str, role: str) -> Member:
    name = f"{role}.{uuid.uuid4().hex[:6]}"
    secret = strong_password()
    with runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, tenant_id)
        users.create_user(
            db_session=db_session, actor=Actor.operator(tenant_id), username=name, role=role, password=secret
        )
    return Member(role, name, secret)


def _login(client: TestClient, tenant_id: str, member: Member, fake: FakeClock) -> None:
    body: dict[str, str] = {"tenant": tenant_id, "username": member.username, "password": member.password}
    if member.totp_secret:  # enrolled already: log in with a fresh code
        fake.advance(seconds=30)
        again = client.post("/v1/auth/login", json={**body, "totp": current_code(member.totp_secret)})
        assert again.status_code == 200, again.text
        member.token = again.json()["token"]
        return
    first = client.post("/v1/auth/login", json=body)
    assert first.status_code == 200, first.text
    if member.role in TOTP_ROLES:
        member.totp_secret, _ = enrol(client, first.json()["token"])
        fake.advance(seconds=30)
        body["totp"] = current_code(member.totp_secret)
        again = client.post("/v1/auth/login", json=body)
        assert again.status_code == 200, again.text
        member.token = again.json()["token"]
    else:
        member.token = first.json()["token"]


@pytest.fixture(scope="module")
def world(client: TestClient, runtime: Runtime) -> Iterator[World]:
    settings = runtime.settings
    saved = settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address
    settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address = 1, 8192, 100_000
    fake = FakeClock()
    clock.set_clock(fake)
    try:
        from tests.conftest import _counter  # reuse the tenant naming of the suite

        handles = []
        for _ in range(2):
            tenant_id = f"m{next(_counter)}-{uuid.uuid4().hex[:8]}"
            with runtime.sessions() as db_session, db_session.begin():
                identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name=tenant_id)
                _, api_key = identity.create_service_account(db_session=db_session, tenant_id=tenant_id, name="b")
                _, cti = identity.create_service_account(
                    db_session=db_session, tenant_id=tenant_id, name="cti", scopes=["calls:write"]
                )
            handles.append((TenantHandle(tenant_id, api_key, "", ""), cti))
        (tenant, cti_key), (other, _) = handles
        members = {role: _person(runtime, tenant.id, role) for role in ROLES}
        raw: dict[str, dict[str, Any]] = {}
        for member in members.values():
            _login(client, tenant.id, member, fake)
            row = new_customer(assigned_agent=member.username)
            member.mine = create(client, tenant, row)
            raw[member.mine["id"]] = row
            row = new_customer(assigned_agent="someone.else")
            member.live = create(client, tenant, row)
            raw[member.live["id"]] = row
            call = {
                "id": f"call-{uuid.uuid4().hex[:10]}",
                "agent": member.username,
                "customer_id": member.live["id"],
                "direction": "inbound",
            }
            started = client.post("/v1/calls", json=call, headers=auth(cti_key))
            assert started.status_code == 201, started.text
            member.call_id = call["id"]
        row = new_customer(assigned_agent="someone.else")
        unassigned = create(client, tenant, row)
        raw[unassigned["id"]] = row
        row = new_customer()
        foreign = create(client, other, row)
        raw[foreign["id"]] = row
        yield World(tenant, other, members, unassigned, foreign, raw, fake, cti_key)
    finally:
        clock.set_clock(None)
        settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address = saved


# -- the expected outcomes -----------------------------------------------------------------
# target: mine (assigned to the reader), live (on the reader's live call), unassigned,
# foreign (other tenant). Values: HTTP status expected. Another tenant's customer is
# "not found" for whoever could act on such a customer, and 403 for whoever may never do
# that action at all: neither answer says whether the id exists anywhere.
READ = {
    "agent": {"mine": 200, "live": 200, "unassigned": 403, "foreign": 404},
    "intern": {"mine": 200, "live": 200, "unassigned": 403, "foreign": 404},
    "qa": {"mine": 200, "live": 200, "unassigned": 200, "foreign": 404},
    "supervisor": {"mine": 200, "live": 200, "unassigned": 200, "foreign": 404},
    "tenant_admin": {"mine": 200, "live": 200, "unassigned": 200, "foreign": 404},
    "security_officer": {"mine": 200, "live": 200, "unassigned": 200, "foreign": 404},
    "dpo": {"mine": 200, "live": 200, "unassigned": 200, "foreign": 404},
    "auditor": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},
}
REVEAL = {
    "agent": {"mine": 403, "live": 200, "unassigned": 403, "foreign": 404},
    "intern": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},
    "qa": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},
    "supervisor": {"mine": 200, "live": 200, "unassigned": 200, "foreign": 404},
    "tenant_admin": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},  # needs an approval
    "security_officer": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},
    "dpo": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},  # needs an approval
    "auditor": {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403},
}
WRITE = {role: {"mine": 403, "live": 403, "unassigned": 403, "foreign": 403} for role in ROLES}
HIDDEN = {"intern": {"id_number", "bank_card"}, "qa": {"id_number", "bank_card"}, "security_officer": {"bank_card"}}
PERSONAL = ("name", "mobile", "landline", "id_number", "bank_card", "email", "address")


def _target(world: World, member: Member, name: str) -> dict[str, Any]:
    return {"mine": member.mine, "live": member.live, "unassigned": world.unassigned, "foreign": world.foreign}[name]


def _clear_values(row: dict[str, Any]) -> list[str]:
    return [str(row[f]) for f in PERSONAL if row.get(f) and f != "name" and len(str(row[f])) >= 6]


def _no_clear_value(world: World, body: str, allowed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for customer_id, row in world.raw.items():
        if customer_id in allowed:
            continue
        for value in _clear_values(row):
            assert value not in body, "a clear personal value leaked"


def _refresh_step_up(client: TestClient, world: World, member: Member) -> None:
    if member.totp_secret:
        world.clock.advance(seconds=30)
        response = client.post(
            "/v1/auth/step-up", json={"code": current_code(member.totp_secret)}, headers=auth(member.token)
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("role", ROLES)
def test_reads_follow_the_matrix_and_never_leak(client: TestClient, world: World, role: str) -> None:
    member = world.members[role]
    for name, expected in READ[role].items():
        target = _target(world, member, name)
        response = client.get(f"/v1/customers/{target['id']}", headers=auth(member.token))
        assert response.status_code == expected, (role, name, response.text)
        _no_clear_value(world, response.text)
        if expected == 200:
            body = response.json()
            hidden = HIDDEN.get(role, set())
            assert set(body["hidden_fields"]) == hidden
            assert all(body[f] is None for f in hidden)
            assert set(body["masked_fields"]) == set(PERSONAL) - hidden


@pytest.mark.parametrize("role", ROLES)
def test_lists_and_searches_show_only_what_the_role_may_see(client: TestClient, world: World, role: str) -> None:
    member = world.members[role]
    listed = client.get("/v1/customers?limit=500", headers=auth(member.token))
    visible = {name for name, status in READ[role].items() if status == 200}
    if not visible:
        assert listed.status_code == 403
        return
    assert listed.status_code == 200, listed.text
    ids = {item["id"] for item in listed.json()["items"]}
    _no_clear_value(world, listed.text)
    assert world.foreign["id"] not in ids
    for name in ("mine", "live", "unassigned"):
        assert (_target(world, member, name)["id"] in ids) == (name in visible), (role, name)
    if role in ("agent", "intern"):  # nothing of anybody else's
        others = {m.mine["id"] for m in world.members.values() if m is not member}
        assert not ids & others
    for name in ("mine", "unassigned", "foreign"):
        target = _target(world, member, name)
        found = client.post(
            "/v1/customers:search",
            json={"external_ref": world.raw[target["id"]]["external_ref"]},
            headers=auth(member.token),
        )
        assert found.status_code == 200
        assert bool(found.json()) == (name in visible and name != "foreign"), (role, name)


@pytest.mark.parametrize("role", ROLES)
def test_reveals_follow_the_matrix(client: TestClient, world: World, role: str) -> None:
    member = world.members[role]
    _refresh_step_up(client, world, member)
    for name, expected in REVEAL[role].items():
        target = _target(world, member, name)
        response = client.post(
            f"/v1/customers/{target['id']}:reveal",
            json={"fields": ["mobile", "email"], "reason": REASON},
            headers=auth(member.token),
        )
        assert response.status_code == expected, (role, name, response.text)
        if expected == 200:
            row = world.raw[target["id"]]
            assert response.json()["fields"]["email"] == row["email"]
            _no_clear_value(world, response.text, allowed={target["id"]})
        else:
            _no_clear_value(world, response.text)
    if role in ("tenant_admin", "dpo"):
        denied = client.post(
            f"/v1/customers/{member.mine['id']}:reveal", json={"fields": ["mobile"], "reason": REASON},
            headers=auth(member.token),
        )  # fmt: skip
        assert denied.json()["code"] == "approval.required"


@pytest.mark.parametrize("role", ROLES)
def test_people_never_write_customers(client: TestClient, world: World, role: str) -> None:
    member = world.members[role]
    for name, expected in WRITE[role].items():
        target = _target(world, member, name)
        patched = client.patch(f"/v1/customers/{target['id']}", json={"region": "x"}, headers=auth(member.token))
        assert patched.status_code == expected, (role, name)
        deleted = client.delete(f"/v1/customers/{target['id']}", headers=auth(member.token))
        assert deleted.status_code == expected, (role, name)
    created = client.post("/v1/customers", json=new_customer(), headers=auth(member.token))
    assert created.status_code == 403


def test_the_call_bound_reveal_ends_at_hang_up(client: TestClient, world: World) -> None:
    agent = world.members["agent"]
    row = new_customer(assigned_agent=agent.username)
    customer = create(client, world.tenant, row)
    world.raw[customer["id"]] = row
    url = f"/v1/customers/{customer['id']}:reveal"
    body = {"fields": ["mobile"], "reason": REASON}
    assert client.post(url, json=body, headers=auth(agent.token)).status_code == 403  # no call yet
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    call = {"id": call_id, "agent": agent.username, "customer_id": customer["id"], "direction": "outbound"}
    assert client.post("/v1/calls", json=call, headers=auth(world.cti_key)).status_code == 201
    shown = client.post(url, json=body, headers=auth(agent.token))
    assert shown.status_code == 200 and shown.json()["fields"]["mobile"] == "+86" + row["mobile"]
    short = client.post(url, json={"fields": ["mobile"], "reason": "why"}, headers=auth(agent.token))
    assert short.status_code == 422 and short.json()["code"] == "request.invalid"
    brief = client.post(url, json={"fields": ["mobile"], "reason": "just now"}, headers=auth(agent.token))
    assert brief.status_code == 422 and brief.json()["code"] == "access.reason_required"
    assert client.post(f"/v1/calls/{call_id}/end", headers=auth(world.cti_key)).status_code == 200
    after = client.post(url, json=body, headers=auth(agent.token))
    assert after.status_code == 403 and "+86" + row["mobile"] not in after.text
    # another agent's live call gives this agent nothing
    intern = world.members["intern"]
    assert client.post(url, json=body, headers=auth(intern.token)).status_code == 403


def test_the_step_up_window_closes(client: TestClient, world: World) -> None:
    supervisor = world.members["supervisor"]
    _refresh_step_up(client, world, supervisor)
    url = f"/v1/customers/{world.unassigned['id']}:reveal"
    body = {"fields": ["mobile"], "reason": REASON}
    assert client.post(url, json=body, headers=auth(supervisor.token)).status_code == 200
    world.clock.advance(minutes=6)
    late = client.post(url, json=body, headers=auth(supervisor.token))
    assert late.status_code == 401 and late.json()["code"] == "auth.step_up_required"
    _refresh_step_up(client, world, supervisor)
    assert client.post(url, json=body, headers=auth(supervisor.token)).status_code == 200


def test_break_glass_works_alone_and_raises_a_critical_event(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    from sqlalchemy import select

    from callvault.audit.models import AuditEvent
    from callvault.core.db import system_session

    officer = world.members["security_officer"]
    _refresh_step_up(client, world, officer)
    url = f"/v1/customers/{world.unassigned['id']}:reveal"
    short = {"fields": ["mobile"], "reason": "need it right now", "break_glass": True}
    assert client.post(url, json=short, headers=auth(officer.token)).status_code == 403
    justified = {**short, "reason": "fraud in progress: account takeover reported by the bank"}
    shown = client.post(url, json=justified, headers=auth(officer.token))
    assert shown.status_code == 200, shown.text
    with system_session(runtime.sessions) as db_session:
        alerts = db_session.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == world.tenant.id,
                AuditEvent.action == "access.break_glass",
                AuditEvent.resource_id == world.unassigned["id"],
            )
        ).all()
    assert len(alerts) == 1 and alerts[0].rule == "alert.break_glass"


def test_the_reveal_quota_is_per_user_and_daily(client: TestClient, world: World, runtime: Runtime) -> None:
    supervisor = world.members["supervisor"]
    url = f"/v1/customers/{world.unassigned['id']}:reveal"
    body = {"fields": ["email"], "reason": REASON}
    # the quota's day is the UTC day: run the loop clear of midnight (the world's clock
    # may stand just before it), else a new day gives the quota back halfway through
    until_midnight = 86_400 - (world.clock.moment.timestamp() % 86_400)
    if until_midnight < 600:
        world.clock.advance(seconds=until_midnight + 1)
    statuses = []
    for _ in range(25):
        _refresh_step_up(client, world, supervisor) if len(statuses) % 8 == 0 else None
        response = client.post(url, json=body, headers=auth(supervisor.token))
        statuses.append(response.status_code)
    assert 429 in statuses
    spent = statuses.index(429)
    assert spent <= 20 and all(status == 429 for status in statuses[spent:])
    last = client.post(url, json=body, headers=auth(supervisor.token))
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
    assert last.json()["code"] == "quota.reveal_exceeded"


def test_a_grant_opens_access_until_it_expires_or_is_revoked(client: TestClient, world: World) -> None:
    from datetime import timedelta

    admin, agent = world.members["tenant_admin"], world.members["agent"]
    _refresh_step_up(client, world, admin)
    url = f"/v1/customers/{world.unassigned['id']}"
    assert client.get(url, headers=auth(agent.token)).status_code == 403
    with_user = client.get("/v1/users?limit=200", headers=auth(admin.token))
    agent_id = next(u["id"] for u in with_user.json()["items"] if u["username"] == agent.username)
    until = (clock.now() + timedelta(minutes=20)).isoformat()
    grant = client.post(
        "/v1/grants",
        json={"user_id": agent_id, "actions": ["customer.read"], "customer_id": world.unassigned["id"],
              "purpose": "complaint.review", "valid_until": until},
        headers=auth(admin.token),
    )  # fmt: skip
    assert grant.status_code == 201, grant.text
    assert client.get(url, headers=auth(agent.token)).status_code == 200
    assert client.get(f"/v1/customers/{world.members['qa'].mine['id']}", headers=auth(agent.token)).status_code == 403
    world.clock.advance(minutes=20, seconds=1)
    assert client.get(url, headers=auth(agent.token)).status_code == 403  # expired
    self_grant = client.post(
        "/v1/grants",
        json={"user_id": next(u["id"] for u in with_user.json()["items"] if u["username"] == admin.username),
              "actions": ["customer.read"], "purpose": "x.y.z",
              "valid_until": (clock.now() + timedelta(hours=1)).isoformat()},
        headers=auth(admin.token),
    )  # fmt: skip
    assert self_grant.status_code in (401, 403)


def test_calls_are_read_by_their_agent_and_by_qa(client: TestClient, world: World) -> None:
    agent, intern, qa = world.members["agent"], world.members["intern"], world.members["qa"]
    for member in (agent, qa, world.members["auditor"]):  # sessions idle out while the clock moved
        _login(client, world.tenant.id, member, world.clock)
    own = client.get(f"/v1/calls/{agent.call_id}", headers=auth(agent.token))
    assert own.status_code == 200 and own.json()["agent"] == agent.username
    assert client.get(f"/v1/calls/{intern.call_id}", headers=auth(agent.token)).status_code == 403
    assert client.get(f"/v1/calls/{agent.call_id}", headers=auth(qa.token)).status_code == 200
    assert client.get(f"/v1/calls/{agent.call_id}", headers=auth(world.members["auditor"].token)).status_code == 403
    assert (
        client.post(f"/v1/calls/{agent.call_id}/end", headers=auth(agent.token)).status_code == 403
    )  # the CTI ends calls


def test_a_freeze_is_lifted_by_security_never_by_the_tenant_admin(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    admin, officer = world.members["tenant_admin"], world.members["security_officer"]
    for member in (admin, officer):
        _login(client, world.tenant.id, member, world.clock)  # a login with TOTP is a fresh step-up
    target = _person(runtime, world.tenant.id, "agent")
    listed = client.get("/v1/users?limit=500", headers=auth(admin.token)).json()["items"]
    target_id = next(u["id"] for u in listed if u["username"] == target.username)
    url = f"/v1/users/{target_id}"
    assert client.patch(url, json={"status": "frozen"}, headers=auth(admin.token)).status_code == 200
    lifted = client.patch(url, json={"status": "active"}, headers=auth(admin.token))
    assert lifted.status_code == 403
    assert client.patch(url, json={"status": "active"}, headers=auth(officer.token)).status_code == 200
