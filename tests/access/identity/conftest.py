"""Fixtures for people: a pinned clock, users made through the service, HTTP login."""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient

from callvault.access.actor import Actor
from callvault.access.identity import users
from callvault.core import clock
from callvault.core.db import set_tenant
from callvault.core.runtime import Runtime
from tests.conftest import TenantHandle, auth

_names = itertools.count()


class FakeClock:
    """A clock tests move by hand (no sleeps); starts at the real now."""

    def __init__(self) -> None:
        # Not on a whole second: SQLite stores such a time without its fraction, and audit
        # verify then misreads it (reported to the audit owner; see the session report).
        self.moment = datetime.now(UTC).replace(microsecond=123_457)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    pinned = FakeClock()
    clock.set_clock(pinned)
    try:
        yield pinned
    finally:
        clock.set_clock(None)


@pytest.fixture(autouse=True)
def _test_login_settings(runtime: Runtime) -> Iterator[None]:
    """argon2id at its minimum cost in these tests (the format and rehash are tested elsewhere)."""
    settings = runtime.settings
    saved = settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address
    # every TestClient request comes from one address: the per-address limit has its own test
    settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address = 1, 8192, 100_000
    try:
        yield
    finally:
        settings.password_time_cost, settings.password_memory_kib, settings.login_rate_per_address = saved


@dataclass
class Person:
    tenant_id: str
    id: uuid.UUID
    username: str
    password: str
    role: str


def strong_password() -> str:
    return f"Ok-{secrets.token_urlsafe(12)}"


@pytest.fixture
def make_person(runtime: Runtime):  # type: ignore[no-untyped-def]
    def make(
        tenant_id: str, role: str = "agent", *, username: str | None = None, password: str | None = None
    ) -> Person:
        name = username or f"person{next(_names)}.{uuid.uuid4().hex[:6]}"
        secret = password or strong_password()
        with runtime.sessions() as db_session, db_session.begin():
            set_tenant(db_session, tenant_id)
            user, _ = users.create_user(
                db_session=db_session, actor=Actor.operator(tenant_id), username=name, role=role, password=secret
            )
            return Person(tenant_id, user.id, user.username, secret, role)

    return make


def login(client: TestClient, person: Person, **extra: str) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/v1/auth/login",
        json={"tenant": person.tenant_id, "username": person.username, "password": person.password, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return auth(token)


def current_code(secret: str, at: datetime | None = None) -> str:
    return pyotp.TOTP(secret).at(at or clock.now())


def enrol(client: TestClient, token: str) -> tuple[str, list[str]]:
    """Enrol TOTP through the API; returns the secret and the recovery codes."""
    started = client.post("/v1/auth/totp", headers=bearer(token))
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = client.post("/v1/auth/totp/confirm", json={"code": current_code(secret)}, headers=bearer(token))
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def admin_token(client: TestClient, person: Person, fake_clock: FakeClock) -> str:
    """A tenant admin's session with TOTP enrolled (the role requires it)."""
    first = login(client, person)
    secret, _ = enrol(client, first["token"])
    fake_clock.advance(seconds=30)  # next time step: codes are single-use
    return login(client, person, totp=current_code(secret))["token"]  # type: ignore[no-any-return]


__all__ = [
    "FakeClock",
    "Person",
    "TenantHandle",
    "admin_token",
    "bearer",
    "current_code",
    "enrol",
    "login",
    "strong_password",
]
