"""Every identity event is in the audit log, by id, and no secret (password, TOTP secret or
code, recovery code, session or SCIM token) reaches a log line or an audit event."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.identity import scim
from callvault.audit.models import AuditEvent
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, bearer, current_code, login, strong_password
from tests.conftest import CAPTURED_LOGS, remember_pii


def test_identity_events_are_audited_without_secrets(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock
) -> None:
    logs_before = len(CAPTURED_LOGS)
    secrets: list[str] = []
    person = make_person(tenant.id, "qa")
    secrets.append(person.password)

    wrong = "Wrong-but-plausible-42"
    secrets.append(wrong)
    for _ in range(5):  # lockout
        client.post("/v1/auth/login", json={"tenant": tenant.id, "username": person.username, "password": wrong})
    fake_clock.advance(minutes=2)
    first = login(client, person)
    secrets.append(first["token"])
    started = client.post("/v1/auth/totp", headers=bearer(first["token"])).json()
    secrets.append(started["secret"])
    code = current_code(started["secret"])
    confirmed = client.post("/v1/auth/totp/confirm", json={"code": code}, headers=bearer(first["token"])).json()
    secrets.extend(confirmed["recovery_codes"])
    fake_clock.advance(seconds=30)
    step_code = current_code(started["secret"])
    assert client.post("/v1/auth/step-up", json={"code": step_code}, headers=bearer(first["token"])).status_code == 200
    second = login(client, person, totp=confirmed["recovery_codes"][0])
    secrets.append(second["token"])
    assert client.post("/v1/auth/logout", headers=bearer(second["token"])).status_code == 204

    with runtime.sessions() as db_session, db_session.begin():
        _, scim_token = scim.create_token(db_session=db_session, tenant_id=tenant.id)
    secrets.append(scim_token)
    scim_password = strong_password()
    secrets.append(scim_password)
    created = client.post(
        "/scim/v2/Users",
        json={"schemas": [scim.USER_SCHEMA], "userName": "scim.person", "password": scim_password},
        headers=bearer(scim_token),
    ).json()
    patch = {"schemas": [scim.PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert client.patch(f"/scim/v2/Users/{created['id']}", json=patch, headers=bearer(scim_token)).status_code == 200
    remember_pii(*secrets)  # the suite-wide log scan checks them again at the end

    with tenant_session(runtime.sessions, tenant.id) as db_session:
        events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)))
    seen = {(event.action, event.decision) for event in events}
    for expected in [
        ("auth.login", "deny"), ("auth.lockout", "deny"), ("auth.login", "allow"), ("auth.totp_enrol", "allow"),
        ("auth.totp_confirm", "allow"), ("auth.step_up", "allow"), ("auth.logout", "allow"),
        ("user.create", "allow"), ("user.disable", "allow"),
    ]:  # fmt: skip
        assert expected in seen, expected
    person_events = [event for event in events if event.actor_id == f"user:{person.id}"]
    assert person_events and all(event.actor_kind == "user" for event in person_events)
    recovery_login = [event for event in events if event.rule == "auth.recovery_code"]
    assert len(recovery_login) == 1 and recovery_login[0].session_id == second["token"][4:20]

    stored = "\n".join(
        " ".join(str(getattr(event, column)) for column in [c.key for c in AuditEvent.__table__.columns])
        for event in events
    )
    logged = "\n".join(CAPTURED_LOGS[logs_before:])
    for secret in secrets:
        for fragment in {secret, secret.split(".", 1)[-1]}:
            assert fragment not in stored
            assert fragment not in logged
    assert person.username not in stored  # ids only, never the typed username
