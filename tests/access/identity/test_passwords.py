"""Password strength and argon2id hashes (format, verification, rehash on login)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.identity.models import User
from callvault.access.identity.passwords import check_strength, hash_password, needs_rehash, verify_password
from callvault.core.db import tenant_session
from callvault.core.errors import Invalid
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import login


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-Pw1!", "at least 12"),
        ("Password2024!", "commonly used"),
        ("qwerty123456", "commonly used"),
        ("passwordpassword", "commonly used"),
        ("iloveyou1314!!", "commonly used"),
        ("123456789012", "only digits"),
        ("aaaaaaaaaaaaaaaa", "different characters"),
        ("abcdefghijklm", "sequence"),
        ("zhangwei-Secret-9", "username"),
    ],
)
def test_weak_passwords_are_rejected(password: str, rule: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_strength(password, username="zhangwei")
    assert caught.value.code == "password.weak"
    assert rule in caught.value.detail
    assert password not in caught.value.detail


@pytest.mark.parametrize("password", ["correct horse battery staple", "Tr0ub4dor&3-blue", "晚上九点半的地铁真的很挤啊"])
def test_strong_passwords_pass(password: str) -> None:
    check_strength(password, username="zhangwei")


def test_argon2id_format_verify_and_rehash() -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8192)
    stored = hash_password(cheap, "correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,p=")
    assert verify_password(cheap, stored, "correct horse battery staple")
    assert not verify_password(cheap, stored, "correct horse battery stapl")
    assert not verify_password(cheap, None, "anything at all")
    assert not verify_password(cheap, "not-a-hash", "anything at all")
    assert not needs_rehash(cheap, stored)
    assert needs_rehash(PasswordHasher(time_cost=2, memory_cost=8192), stored)


def test_login_rehashes_after_a_parameter_change(client: TestClient, runtime: Runtime, tenant, make_person) -> None:  # type: ignore[no-untyped-def]
    person = make_person(tenant.id)

    def stored_hash() -> str:
        with tenant_session(runtime.sessions, tenant.id) as db_session:
            value = db_session.scalar(
                select(User.password_hash).where(User.tenant_id == tenant.id, User.id == person.id)
            )
            assert value is not None
            return value

    assert ",t=1," in stored_hash()
    runtime.settings.password_time_cost = 2  # restored by the autouse fixture
    login(client, person)
    assert ",t=2," in stored_hash()
    login(client, person)  # the new hash verifies
