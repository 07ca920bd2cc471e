"""Lifecycle fixtures: a tenant with customers, people as actors (a DPO, a tenant admin who
approves), calls, and the pinned clock. Everything runs through the real services, PDP,
audit log, database and keyring."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.core import clock
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, fake_clock  # noqa: F401 - fixture, registered by import
from tests.conftest import TenantHandle, auth, remember_pii

NOTICE = hashlib.sha256("营销外呼告知 v3 / marketing notice v3".encode()).hexdigest()


def customer_row(**overrides: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().int % 10_000
    row = {
        "name": f"陈英{suffix}",
        "mobile": f"1380013{suffix:04d}",
        "email": f"chen{suffix}@example.com",
        "address": f"北京市朝阳区建国路{suffix}号",
        "region": "CN-BJ",
    }
    row.update(overrides)
    return row


@dataclass
class Lc:
    """One tenant of the lifecycle tests."""

    client: TestClient
    runtime: Runtime
    tenant: TenantHandle
    calls_key: str

    @property
    def id(self) -> str:
        return self.tenant.id

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.tenant.api_key)

    def customer(self, **overrides: Any) -> tuple[uuid.UUID, dict[str, Any]]:
        row = customer_row(**overrides)
        remember_pii(row["name"], row["mobile"], row["email"], row["address"])
        response = self.client.post("/v1/customers", json=row, headers=self.headers)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"]), row

    def person(self, role: str, name: str | None = None) -> Actor:
        """A person of this tenant as the services see one, just stepped up."""
        name = name or f"{role}-{uuid.uuid4().hex[:6]}"
        return Actor(
            tenant_id=self.id,
            actor_id=f"user:{name}",
            kind="user",
            role=role,
            username=name,
            step_up_at=clock.now(),
        )

    def operator(self) -> Actor:
        return Actor.operator(self.id, "test")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with tenant_session(self.runtime.sessions, self.id) as db_session:
            yield db_session

    def call(self, customer_id: uuid.UUID, *, end: bool = True) -> str:
        call_id = f"call-{uuid.uuid4().hex[:10]}"
        body = {"id": call_id, "agent": "agent1", "customer_id": str(customer_id), "direction": "inbound"}
        response = self.client.post("/v1/calls", json=body, headers=auth(self.calls_key))
        assert response.status_code in (200, 201), response.text
        if end:
            assert self.client.post(f"/v1/calls/{call_id}/end", headers=auth(self.calls_key)).status_code == 200
        return call_id


def stepped_up(actor: Actor) -> Actor:
    return replace(actor, step_up_at=clock.now())


@pytest.fixture
def lc(client: TestClient, runtime: Runtime, make_tenant) -> Lc:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    with runtime.sessions() as db_session, db_session.begin():
        _, calls_key = identity.create_service_account(
            db_session=db_session, tenant_id=tenant.id, name="cti", scopes=["calls:write", "customers:read"]
        )
    return Lc(client, runtime, tenant, calls_key)
