"""Fixtures for exports: a tenant with customers (imported through the API), real people
of every role with sessions (TOTP enrolled, real logins), and helpers that drive an
export through its chain over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.exports import service
from tests.access.approvals.conftest import Member, member
from tests.access.identity.conftest import (  # noqa: F401 - fixtures, registered by import
    FakeClock,
    _test_login_settings,
    current_code,
    fake_clock,
    make_person,
)
from tests.conftest import TenantHandle, auth, remember_pii


@dataclass
class Staff:
    supervisor: Member
    supervisor2: Member
    security: Member
    dpo: Member
    admin: Member
    agent: Member
    intern: Member
    auditor: Member


def step_up(client: TestClient, found: Member, pinned: FakeClock) -> None:
    """A fresh TOTP confirmation for ``found`` (the next time step: codes are single-use)."""
    pinned.advance(seconds=30)
    if found.secret is None:
        return
    answer = client.post("/v1/auth/step-up", json={"code": current_code(found.secret)}, headers=found.headers)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def make_staff(client: TestClient, make_person, fake_clock: FakeClock) -> Callable[[str], Staff]:  # type: ignore[no-untyped-def]  # noqa: F811
    def make(tenant_id: str) -> Staff:
        def one(role: str) -> Member:
            return member(client, make_person(tenant_id, role), fake_clock)

        return Staff(
            supervisor=one("supervisor"),
            supervisor2=one("supervisor"),
            security=one("security_officer"),
            dpo=one("dpo"),
            admin=one("tenant_admin"),
            agent=one("agent"),
            intern=one("intern"),
            auditor=one("auditor"),
        )

    return make


def import_customers(client: TestClient, tenant: TenantHandle, count: int, *, seed: int = 7, start: int = 0) -> None:
    rows = list(CustomerGenerator(seed, pool_size=300).customers(count, start=start))
    for row in rows:
        remember_pii(
            *(str(value) for key, value in row.items() if key in ("name", "mobile", "id_number", "bank_card", "email"))
        )
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    answer = client.post(
        "/v1/customers:import", content=body, headers={**auth(tenant.api_key), "content-type": "application/x-ndjson"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["imported"] == count, answer.text


def request_export(client: TestClient, who: Member, **body: Any) -> dict[str, Any]:
    payload = {"fields": ["name", "mobile", "id_number", "region"], "purpose": "Quarterly retention campaign list"}
    payload.update(body)
    answer = client.post("/v1/exports", json=payload, headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def vote(client: TestClient, who: Member, export_id: str, pinned: FakeClock, *, approve: bool = True) -> Any:
    step_up(client, who, pinned)
    verb = "approve" if approve else "deny"
    return client.post(f"/v1/exports/{export_id}:{verb}", json={"comment": "checked"}, headers=who.headers)


def wait_generated(runtime: Runtime, tenant_id: str, export_id: str) -> str:
    import uuid

    future = service.jobs_of(runtime).future(tenant_id, uuid.UUID(export_id))
    assert future is not None, "generation was not started"
    return future.result(timeout=300)


def approve_all(client: TestClient, runtime: Runtime, staff: Staff, export: dict[str, Any], pinned: FakeClock) -> None:
    """Every level of the export's chain approves, in order; then wait for the file."""
    by_role = {"security_officer": staff.security, "dpo": staff.dpo, "tenant_admin": staff.admin}
    for level in export["levels"]:
        answer = vote(client, by_role[level], export["id"], pinned)
        assert answer.status_code == 200, answer.text
    assert wait_generated(runtime, export_tenant(staff), export["id"]) == "ready"


def export_tenant(staff: Staff) -> str:
    return staff.supervisor.person.tenant_id


__all__ = ["Staff", "approve_all", "import_customers", "request_export", "step_up", "vote", "wait_generated"]
