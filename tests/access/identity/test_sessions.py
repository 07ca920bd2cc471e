"""Login, logout, idle and absolute expiry, lockout with back-off, refusals.

The clock is pinned and moved by hand; nothing sleeps."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from callvault.access.identity import service as identity
from callvault.access.identity.models import User, UserSession
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, bearer, login
from tests.conftest import auth


def _login_raw(client: TestClient, tenant_id: str, username: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/auth/login", json={"tenant": tenant_id, "username": username, "password": password, **extra}
    )


def _whoami(client: TestClient, token: str):  # type: ignore[no-untyped-def]
    return client.get("/v1/whoami", headers=bearer(token))


def test_login_whoami_logout(client: TestClient, runtime: Runtime, tenant, make_person) -> None:  # type: ignore[no-untyped-def]
    person = make_person(tenant.id, "agent")
    body = login(client, person)
    token = body["token"]
    assert token.startswith("cvs_") and body["role"] == "agent" and body["enrol_only"] is False
    me = _whoami(client, token)
    assert me.status_code == 200
    assert me.json()["actor_id"] == f"user:{person.id}" and me.json()["kind"] == "user"

    with tenant_session(runtime.sessions, tenant.id) as db_session:  # only a digest of the secret is stored
        row = db_session.scalar(select(UserSession).where(UserSession.user_id == person.id))
        assert row is not None
        secret = token.split(".", 1)[1]
        assert secret.encode() not in row.token_digest and len(row.token_digest) == 32

    out = client.post("/v1/auth/logout", headers=bearer(token))
    assert out.status_code == 204
    after = _whoami(client, token)
    assert after.status_code == 401 and after.json()["code"] == "auth.session_invalid"


def test_service_account_keys_still_work(client: TestClient, tenant) -> None:  # type: ignore[no-untyped-def]
    me = client.get("/v1/whoami", headers=auth(tenant.api_key))
    assert me.status_code == 200 and me.json()["kind"] == "service_account"


def test_forged_or_garbled_tokens_are_refused(client: TestClient, tenant, make_person) -> None:  # type: ignore[no-untyped-def]
    token = login(client, make_person(tenant.id))["token"]
    session_id, secret = token[4:].split(".", 1)
    for bad in (f"cvs_{session_id}.{secret[:-2]}xx", f"cvs_{session_id}", "cvs_zz.abc", f"cvs_{'0' * 16}.{secret}"):
        response = _whoami(client, bad)
        assert response.status_code == 401, bad
        assert response.json()["code"] == "auth.session_invalid"


def test_failures_do_not_reveal_whether_the_user_exists(client: TestClient, tenant, make_person) -> None:  # type: ignore[no-untyped-def]
    person = make_person(tenant.id)
    answers = [
        _login_raw(client, tenant.id, person.username, "wrong-password-123"),
        _login_raw(client, tenant.id, "nobody-here", "wrong-password-123"),
        _login_raw(client, "no-such-tenant", person.username, person.password),
    ]
    bodies = []
    for answer in answers:
        assert answer.status_code == 401
        body = answer.json()
        body.pop("instance")
        bodies.append(body)
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["code"] == "auth.login_failed"


def test_idle_expiry(client: TestClient, tenant, make_person, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    token = login(client, make_person(tenant.id))["token"]
    fake_clock.advance(minutes=29)
    assert _whoami(client, token).status_code == 200  # use renews the idle window
    fake_clock.advance(minutes=29)
    assert _whoami(client, token).status_code == 200
    fake_clock.advance(minutes=30, seconds=1)
    refused = _whoami(client, token)
    assert refused.status_code == 401 and refused.json()["code"] == "auth.session_invalid"


def test_absolute_expiry(client: TestClient, tenant, make_person, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    token = login(client, make_person(tenant.id))["token"]
    for _ in range(12 * 3 - 1):  # busy all day: a request every 20 minutes
        fake_clock.advance(minutes=20)
        assert _whoami(client, token).status_code == 200
    fake_clock.advance(minutes=20)  # 12 h after login
    assert _whoami(client, token).status_code == 401


def test_lockout_with_exponential_backoff(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock
) -> None:
    person = make_person(tenant.id)
    for _ in range(5):
        assert _login_raw(client, tenant.id, person.username, "not-the-password").status_code == 401
    # locked: even the right password fails, with the same answer as a wrong one
    locked = _login_raw(client, tenant.id, person.username, person.password)
    assert locked.status_code == 401 and locked.json()["code"] == "auth.login_failed"

    def lock_seconds() -> float:
        with tenant_session(runtime.sessions, tenant.id) as db_session:
            user = db_session.scalar(select(User).where(User.tenant_id == tenant.id, User.id == person.id))
            assert user is not None and user.locked_until is not None
            return (user.locked_until - fake_clock.moment).total_seconds()

    assert lock_seconds() == 60
    fake_clock.advance(seconds=61)
    assert _login_raw(client, tenant.id, person.username, "not-the-password").status_code == 401  # 6th failure
    assert lock_seconds() == 120  # doubled
    fake_clock.advance(seconds=121)
    assert _login_raw(client, tenant.id, person.username, "not-the-password").status_code == 401
    assert lock_seconds() == 240
    fake_clock.advance(seconds=241)
    login(client, person)  # success resets the count
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        user = db_session.scalar(select(User).where(User.tenant_id == tenant.id, User.id == person.id))
        assert user is not None and user.failed_logins == 0 and user.locked_until is None


def test_login_rate_limit_per_username(client: TestClient, tenant, make_person, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    fake_clock.moment = fake_clock.moment.replace(second=0)  # one counter window for the whole burst
    statuses = [_login_raw(client, tenant.id, "ghost-user", "wrong-password-1").status_code for _ in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    fake_clock.advance(minutes=1)
    assert _login_raw(client, tenant.id, "ghost-user", "wrong-password-1").status_code == 401


def test_disabled_frozen_and_suspended_are_refused(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, make_tenant, make_person
) -> None:
    tenant = make_tenant()
    frozen, suspended_later = make_person(tenant.id), make_person(tenant.id)
    token = login(client, frozen)["token"]
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        db_session.execute(
            update(User).where(User.tenant_id == tenant.id, User.id == frozen.id).values(status="frozen")
        )
    refused = _whoami(client, token)
    assert refused.status_code == 401 and refused.json()["code"] == "auth.account_inactive"
    assert _login_raw(client, tenant.id, frozen.username, frozen.password).json()["code"] == "auth.login_failed"

    other = login(client, suspended_later)["token"]
    with runtime.sessions() as db_session, db_session.begin():
        identity.set_tenant_status(db_session=db_session, tenant_id=tenant.id, status="suspended")
    assert _whoami(client, other).json()["code"] == "auth.tenant_suspended"
    assert _login_raw(client, tenant.id, suspended_later.username, suspended_later.password).status_code == 401


def test_login_rate_limit_per_address(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock
) -> None:
    person = make_person(tenant.id)
    fake_clock.moment = fake_clock.moment.replace(second=0) + timedelta(days=5)  # a window no other test uses
    runtime.settings.login_rate_per_address = 5  # restored by the autouse fixture
    statuses = [_login_raw(client, tenant.id, f"someone{i}", "wrong-password-1").status_code for i in range(5)]
    assert statuses == [401] * 5
    limited = _login_raw(client, tenant.id, person.username, person.password)  # even the right password waits
    assert limited.status_code == 429 and limited.json()["code"] == "auth.rate_limited"
    fake_clock.advance(minutes=1)
    assert _login_raw(client, tenant.id, person.username, person.password).status_code == 200
