"""Fixtures for approvals: the people fixtures of tests/access/identity (real users,
real logins with TOTP), and a staff of one tenant with a session each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from tests.access.identity.conftest import (  # noqa: F401 - fixtures, registered by import
    FakeClock,
    Person,
    _test_login_settings,
    bearer,
    current_code,
    enrol,
    fake_clock,
    login,
    make_person,
)


@dataclass
class Member:
    """A person with a live session; ``relogin`` after the clock moved past idle expiry."""

    person: Person
    token: str
    secret: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def actor_id(self) -> str:
        return f"user:{self.person.id}"


def member(client: TestClient, person: Person, pinned: FakeClock) -> Member:
    first = login(client, person)
    if not first["enrol_only"]:
        return Member(person, first["token"], None, bearer(first["token"]))
    secret, _ = enrol(client, first["token"])
    found = Member(person, "", secret)
    relogin(client, found, pinned)
    return found


def relogin(client: TestClient, found: Member, pinned: FakeClock) -> None:
    extra = {}
    if found.secret is not None:
        pinned.advance(seconds=30)  # codes are single-use per time step
        extra["totp"] = current_code(found.secret)
    found.token = login(client, found.person, **extra)["token"]
    found.headers = bearer(found.token)


@dataclass
class Staff:
    requester: Member  # a tenant admin asking for full data
    admin: Member  # a second tenant admin
    security: Member  # a security officer
    agent: Member
    auditor: Member

    def all(self) -> list[Member]:
        return [self.requester, self.admin, self.security, self.agent, self.auditor]


@pytest.fixture
def make_staff(client: TestClient, make_person, fake_clock: FakeClock) -> Callable[[str], Staff]:  # type: ignore[no-untyped-def]  # noqa: F811
    def make(tenant_id: str) -> Staff:
        def one(role: str) -> Member:
            return member(client, make_person(tenant_id, role), fake_clock)

        return Staff(one("tenant_admin"), one("tenant_admin"), one("security_officer"), one("agent"), one("auditor"))

    return make


__all__ = ["Member", "Staff", "member", "relogin"]
