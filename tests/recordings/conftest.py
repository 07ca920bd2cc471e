"""A tenant with a recorder (service account), a CTI, a customer on a call, and people of
every role that matters to recordings, logged in over HTTP (TOTP enrolled, so each can
step up)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.access.identity import users
from callvault.audit.models import AuditEvent
from callvault.core import clock
from callvault.core.db import set_tenant, system_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, current_code, enrol, strong_password
from tests.conftest import auth
from tests.vault.customers.test_api import new_customer

ROLES = ("agent", "other_agent", "intern", "qa", "supervisor", "tenant_admin")


@dataclass
class Member:
    role: str
    username: str
    password: str
    token: str = ""
    totp: str = ""


@dataclass
class World:
    tenant_id: str
    recorder: str  # service account key: recordings:write
    cti: str  # calls:write
    backend: str  # customers:*
    members: dict[str, Member]
    clock: FakeClock
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return auth(self.members[role].token)

    def step_up(self, client: TestClient, role: str) -> None:
        member = self.members[role]
        self.clock.advance(seconds=30)
        response = client.post("/v1/auth/step-up", json={"code": current_code(member.totp)}, headers=auth(member.token))
        if response.status_code == 401:  # the session idled out under the fake clock
            self.relogin(client, role)
            self.step_up(client, role)
            return
        assert response.status_code == 200, response.text

    def relogin(self, client: TestClient, role: str) -> None:
        """A fresh session (the fake clock runs past idle timeouts in long modules)."""
        _login(client, self.tenant_id, self.members[role], self.clock)

    def new_call(self, client: TestClient, agent_role: str = "agent") -> tuple[str, str]:
        """A new customer on a new call of ``agent_role``: ``(call id, customer id)``."""
        row = new_customer(assigned_agent=self.members[agent_role].username)
        created = client.post("/v1/customers", json=row, headers=auth(self.backend))
        assert created.status_code == 201, created.text
        customer_id = created.json()["id"]
        self.customers[customer_id] = row
        call_id = f"call-{uuid.uuid4().hex[:10]}"
        started = client.post(
            "/v1/calls",
            json={
                "id": call_id,
                "agent": self.members[agent_role].username,
                "customer_id": customer_id,
                "direction": "inbound",
            },
            headers=auth(self.cti),
        )
        assert started.status_code == 201, started.text
        return call_id, customer_id

    def events(self, runtime: Runtime, **where: str) -> list[AuditEvent]:
        with system_session(runtime.sessions) as db_session:
            query = select(AuditEvent).where(AuditEvent.tenant_id == self.tenant_id)
            for column, value in where.items():
                query = query.where(getattr(AuditEvent, column) == value)
            return list(db_session.scalars(query.order_by(AuditEvent.seq)))


def _login(client: TestClient, tenant_id: str, member: Member, fake: FakeClock) -> None:
    body = {"tenant": tenant_id, "username": member.username, "password": member.password}
    if member.totp:
        fake.advance(seconds=30)
        again = client.post("/v1/auth/login", json={**body, "totp": current_code(member.totp)})
        assert again.status_code == 200, again.text
        member.token = again.json()["token"]
        return
    first = client.post("/v1/auth/login", json=body)
    assert first.status_code == 200, first.text
    member.totp, _ = enrol(client, first.json()["token"])
    fake.advance(seconds=30)
    again = client.post("/v1/auth/login", json={**body, "totp": current_code(member.totp)})
    assert again.status_code == 200, again.text
    member.token = again.json()["token"]


@pytest.fixture(scope="module")
def world(client: TestClient, runtime: Runtime) -> Iterator[World]:
    settings = runtime.settings
    saved = settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address
    settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address = 1, 8192, 100_000
    fake = FakeClock()
    clock.set_clock(fake)
    try:
        tenant_id = f"rec-{uuid.uuid4().hex[:8]}"
        with runtime.sessions() as db_session, db_session.begin():
            identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name=tenant_id)
            _, backend = identity.create_service_account(db_session=db_session, tenant_id=tenant_id, name="backend")
            _, recorder = identity.create_service_account(
                db_session=db_session, tenant_id=tenant_id, name="recorder", scopes=["recordings:write"]
            )
            _, cti = identity.create_service_account(
                db_session=db_session, tenant_id=tenant_id, name="cti", scopes=["calls:write"]
            )
        members: dict[str, Member] = {}
        for name in ROLES:
            role = "agent" if name == "other_agent" else name
            member = Member(role, f"{name}.{uuid.uuid4().hex[:6]}", strong_password())
            with runtime.sessions() as db_session, db_session.begin():
                set_tenant(db_session, tenant_id)
                users.create_user(
                    db_session=db_session,
                    actor=Actor.operator(tenant_id),
                    username=member.username,
                    role=role,
                    password=member.password,
                )
            _login(client, tenant_id, member, fake)
            members[name] = member
        yield World(tenant_id, recorder, cti, backend, members, fake)
    finally:
        clock.set_clock(None)
        settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address = saved


@pytest.fixture
def fresh(client: TestClient, world: World) -> World:
    """The world with every member logged in again (module tests move the clock far)."""
    for role in world.members:
        world.relogin(client, role)
    return world
