"""User administration over HTTP: tenant admins manage their own tenant only; every
decision goes through the PDP; disabling ends the user's sessions at once."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.audit.models import AuditEvent
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, admin_token, bearer, current_code, enrol, login, strong_password


def test_admin_creates_lists_updates_and_disables(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock
) -> None:
    admin = bearer(admin_token(client, make_person(tenant.id, "tenant_admin"), fake_clock))
    created = client.post(
        "/v1/users", json={"username": "Agent.Zhou", "role": "agent", "display_name": "Zhou"}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    generated = body["initial_password"]
    assert body["username"] == "agent.zhou" and body["status"] == "active" and len(generated) >= 12
    assert "password_hash" not in body and "totp_secret_ct" not in body

    agent_session = client.post(
        "/v1/auth/login", json={"tenant": tenant.id, "username": "agent.zhou", "password": generated}
    ).json()["token"]
    assert client.get("/v1/whoami", headers=bearer(agent_session)).status_code == 200

    weak = client.post(
        "/v1/users", json={"username": "weakling", "role": "agent", "password": "password1"}, headers=admin
    )
    assert weak.status_code == 422 and weak.json()["code"] == "password.weak"
    duplicate = client.post("/v1/users", json={"username": "AGENT.zhou", "role": "qa"}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "user.exists"
    bad_role = client.post("/v1/users", json={"username": "x2", "role": "root"}, headers=admin)
    assert bad_role.status_code == 422

    listed = client.get("/v1/users", headers=admin)
    assert listed.status_code == 200
    assert "agent.zhou" in [item["username"] for item in listed.json()["items"]]

    promoted = client.patch(f"/v1/users/{body['id']}", json={"role": "intern"}, headers=admin)
    assert promoted.status_code == 200 and promoted.json()["role"] == "intern"

    disabled = client.patch(f"/v1/users/{body['id']}", json={"status": "disabled"}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert disabled.json()["offboarded_at"] is not None
    assert client.get("/v1/whoami", headers=bearer(agent_session)).status_code == 401

    with tenant_session(runtime.sessions, tenant.id) as db_session:
        actions = set(
            db_session.scalars(
                select(AuditEvent.action).where(AuditEvent.tenant_id == tenant.id, AuditEvent.resource_id == body["id"])
            )
        )
    assert {"user.update", "user.disable"} <= actions


def test_reset_password_ends_sessions(client: TestClient, tenant, make_person, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(admin_token(client, make_person(tenant.id, "tenant_admin"), fake_clock))
    person = make_person(tenant.id, "agent")
    session = login(client, person)["token"]
    new_password = strong_password()
    reset = client.post(f"/v1/users/{person.id}/password", json={"password": new_password}, headers=admin)
    assert reset.status_code == 200 and reset.json()["initial_password"] is None
    assert client.get("/v1/whoami", headers=bearer(session)).status_code == 401
    assert (
        client.post(
            "/v1/auth/login", json={"tenant": tenant.id, "username": person.username, "password": new_password}
        ).status_code
        == 200
    )


def test_non_admins_are_denied(client: TestClient, tenant, make_person) -> None:  # type: ignore[no-untyped-def]
    agent = bearer(login(client, make_person(tenant.id, "agent"))["token"])
    assert client.get("/v1/users", headers=agent).status_code == 403
    denied = client.post("/v1/users", json={"username": "sneaky", "role": "tenant_admin"}, headers=agent)
    assert denied.status_code == 403 and denied.json()["code"] == "access.denied"
    assert client.get("/v1/users").status_code == 401


def test_tenant_admin_sees_only_its_own_tenant(  # type: ignore[no-untyped-def]
    client: TestClient, make_tenant, make_person, fake_clock: FakeClock
) -> None:
    tenant_a, tenant_b = make_tenant(), make_tenant()
    admin_a = bearer(admin_token(client, make_person(tenant_a.id, "tenant_admin"), fake_clock))
    person_b = make_person(tenant_b.id, "agent")
    session_b = login(client, person_b)["token"]

    assert client.get(f"/v1/users/{person_b.id}", headers=admin_a).status_code == 404
    assert client.patch(f"/v1/users/{person_b.id}", json={"status": "disabled"}, headers=admin_a).status_code == 404
    assert client.post(f"/v1/users/{person_b.id}/password", json={}, headers=admin_a).status_code == 404
    usernames = [item["username"] for item in client.get("/v1/users", headers=admin_a).json()["items"]]
    assert person_b.username not in usernames
    assert client.get("/v1/whoami", headers=bearer(session_b)).status_code == 200  # untouched
    assert client.get(f"/v1/users/{uuid.uuid4()}", headers=admin_a).status_code == 404


def test_user_admin_needs_a_recent_step_up(  # type: ignore[no-untyped-def]
    client: TestClient, tenant, make_person, fake_clock: FakeClock
) -> None:
    admin = make_person(tenant.id, "tenant_admin")
    first = login(client, admin)
    secret, _ = enrol(client, first["token"])
    headers = bearer(first["token"])
    assert client.get("/v1/users", headers=headers).status_code == 200  # the confirmation counts as a step-up
    fake_clock.advance(minutes=5, seconds=30)
    stale = client.get("/v1/users", headers=headers)
    assert stale.status_code == 401 and stale.json()["code"] == "auth.step_up_required"
    stepped = client.post("/v1/auth/step-up", json={"code": current_code(secret)}, headers=headers)
    assert stepped.status_code == 200
    assert client.get("/v1/users", headers=headers).status_code == 200
