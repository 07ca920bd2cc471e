"""TOTP enrolment, enrolment-only sessions, login with codes, replay, recovery codes,
step-up and its window (pinned clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.identity import sessions
from callvault.access.identity.models import RecoveryCode, User
from callvault.core.db import tenant_session
from callvault.core.errors import StepUpRequired
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, bearer, current_code, enrol, login


def _login_raw(client: TestClient, person, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/auth/login",
        json={"tenant": person.tenant_id, "username": person.username, "password": person.password, **extra},
    )


def test_required_roles_get_an_enrolment_only_session(client: TestClient, tenant, make_person) -> None:  # type: ignore[no-untyped-def]
    for role in ("qa", "supervisor", "tenant_admin", "security_officer", "dpo"):
        body = login(client, make_person(tenant.id, role))
        assert body["enrol_only"] is True, role
        refused = client.get("/v1/whoami", headers=bearer(body["token"]))
        assert refused.status_code == 401 and refused.json()["code"] == "auth.totp_enrolment_required"
    for role in ("agent", "intern", "auditor"):
        assert login(client, make_person(tenant.id, role))["enrol_only"] is False, role


def test_enrol_then_login_needs_a_code(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock
) -> None:
    person = make_person(tenant.id, "qa")
    first = login(client, person)
    started = client.post("/v1/auth/totp", headers=bearer(first["token"]))
    assert started.status_code == 201
    secret, uri = started.json()["secret"], started.json()["provisioning_uri"]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "issuer=CallVault" in uri

    wrong = client.post("/v1/auth/totp/confirm", json={"code": "000000"}, headers=bearer(first["token"]))
    if current_code(secret) != "000000":
        assert wrong.status_code == 422 and wrong.json()["code"] == "totp.code_invalid"
    confirmed = client.post(
        "/v1/auth/totp/confirm", json={"code": current_code(secret)}, headers=bearer(first["token"])
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    # the enrolment session is now a full one, stepped up
    assert client.get("/v1/whoami", headers=bearer(first["token"])).status_code == 200

    with tenant_session(runtime.sessions, tenant.id) as db_session:  # the secret is sealed, the codes are digests
        user = db_session.scalar(select(User).where(User.tenant_id == tenant.id, User.id == person.id))
        assert user is not None and user.totp_secret_ct is not None
        assert secret.encode() not in user.totp_secret_ct
        digests = db_session.scalars(select(RecoveryCode.code_digest).where(RecoveryCode.user_id == person.id)).all()
        assert len(digests) == 10 and not any(code.replace("-", "").encode() in d for code in codes for d in digests)

    again = client.post("/v1/auth/totp", headers=bearer(first["token"]))
    assert again.status_code == 409 and again.json()["code"] == "totp.already_enrolled"

    missing = _login_raw(client, person)
    assert missing.status_code == 401 and missing.json()["code"] == "auth.totp_required"
    fake_clock.advance(seconds=30)
    code = current_code(secret)
    ok = _login_raw(client, person, totp=code)
    assert ok.status_code == 200 and ok.json()["enrol_only"] is False and ok.json()["step_up_at"] is not None
    replay = _login_raw(client, person, totp=code)  # same time step: a code works once
    assert replay.status_code == 401 and replay.json()["code"] == "auth.login_failed"


def test_recovery_codes_are_single_use(client: TestClient, tenant, make_person, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    person = make_person(tenant.id, "supervisor")
    _, codes = enrol(client, login(client, person)["token"])
    assert _login_raw(client, person, totp=codes[3].upper()).status_code == 200  # case and dashes do not matter
    reused = _login_raw(client, person, totp=codes[3])
    assert reused.status_code == 401 and reused.json()["code"] == "auth.login_failed"
    assert _login_raw(client, person, totp=codes[4].replace("-", "")).status_code == 200


def test_step_up_window(client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    person = make_person(tenant.id, "qa")
    token = login(client, person)["token"]
    secret, _ = enrol(client, token)
    fake_clock.advance(seconds=30)
    token = login(client, person, totp=current_code(secret))["token"]

    def actor():  # type: ignore[no-untyped-def]
        with runtime.sessions() as db_session, db_session.begin():
            return sessions.authenticate_session(db_session=db_session, token=token).actor

    window = timedelta(minutes=5)
    sessions.require_step_up(actor(), within=window)  # the login with a code counts
    fake_clock.advance(minutes=5, seconds=1)
    with pytest.raises(StepUpRequired) as caught:
        sessions.require_step_up(actor(), within=window)
    assert caught.value.status == 401 and caught.value.code == "auth.step_up_required"

    bad = client.post("/v1/auth/step-up", json={"code": "12345x"}, headers=bearer(token))
    assert bad.status_code == 422
    stepped = client.post("/v1/auth/step-up", json={"code": current_code(secret)}, headers=bearer(token))
    assert stepped.status_code == 200
    stepped_at = actor().step_up_at
    assert stepped_at == fake_clock.moment
    sessions.require_step_up(actor(), within=window)
    fake_clock.advance(minutes=4, seconds=59)
    sessions.require_step_up(actor(), within=window)
    fake_clock.advance(seconds=2)
    with pytest.raises(StepUpRequired):
        sessions.require_step_up(actor(), within=window)


def test_step_up_needs_enrolment_and_counts_wrong_codes(  # type: ignore[no-untyped-def]
    client: TestClient, tenant, make_person, fake_clock: FakeClock
) -> None:
    agent = make_person(tenant.id, "agent")
    token = login(client, agent)["token"]
    not_enrolled = client.post("/v1/auth/step-up", json={"code": "123456"}, headers=bearer(token))
    assert not_enrolled.status_code == 409 and not_enrolled.json()["code"] == "totp.not_enrolled"

    secret, _ = enrol(client, token)
    wrong = f"{(int(current_code(secret)) + 500_000) % 1_000_000:06d}"
    for _ in range(5):
        assert client.post("/v1/auth/step-up", json={"code": wrong}, headers=bearer(token)).status_code == 422
    fake_clock.advance(seconds=30)
    locked = client.post("/v1/auth/step-up", json={"code": current_code(secret)}, headers=bearer(token))
    assert locked.status_code == 401 and locked.json()["code"] == "auth.locked"
