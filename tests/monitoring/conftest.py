"""Fixtures for monitoring: the people fixtures of tests/access (real users, real logins
with TOTP), the live engine on the session runtime for one test, generated customers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from callvault.access.policy import PolicyOverride, update_tenant_policy
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.monitoring.engine import MonitoringEngine, start_engine
from tests.access.approvals.conftest import (  # noqa: F401
    Member,
    Staff,
    make_staff,
    member,
    relogin,
)
from tests.access.identity.conftest import (  # noqa: F401 - fixtures, registered by import
    FakeClock,
    Person,
    _test_login_settings,
    fake_clock,
    make_person,
)
from tests.conftest import auth, remember_pii


@pytest.fixture
def engine(runtime: Runtime) -> Iterator[MonitoringEngine]:
    """The live engine on the shared runtime, for this test only (tests in a worker run
    one at a time, so it sees this test's events)."""
    started = start_engine(runtime)
    try:
        yield started
    finally:
        started.close()
        runtime.caches.pop("monitoring.engine", None)


def office_hours(pinned: FakeClock) -> None:
    """Move the pinned clock forward to 10:00 in UTC+8 (the shipped rules' shift is 08-22
    there), so working traffic is working-hours traffic whenever the suite runs."""
    from datetime import timedelta

    pinned.moment = (pinned.moment + timedelta(days=1)).replace(hour=2)


def raise_read_limits(runtime: Runtime, tenant_id: str) -> None:
    """The per-person read rate limit (30 a minute) would stop a scraper first: lifted so
    the detection engine is what stops it."""
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        update_tenant_policy(
            db_session,
            tenant_id=tenant_id,
            override=PolicyOverride(limits={"search_per_minute": 100_000, "search_per_day": 1_000_000}),
            by="test",
        )
    runtime.caches.pop("policy", None)


def import_customers(client: TestClient, api_key: str, agent: str, count: int) -> list[str]:
    """``count`` customers assigned to ``agent``; their ids."""
    tag = uuid.uuid4().hex[:6]
    lines = []
    for n in range(count):
        mobile = f"139{n:08d}"
        remember_pii(mobile)
        lines.append(orjson.dumps({"external_ref": f"{tag}-{n}", "mobile": mobile, "assigned_agent": agent}))
    response = client.post(
        "/v1/customers:import",
        content=b"\n".join(lines),
        headers={**auth(api_key), "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.json()["imported"] == count, response.text
    ids: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/v1/customers", params={"limit": 500, **({"cursor": cursor} if cursor else {})}, headers=auth(api_key)
        ).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


MakeStaff = Callable[[str], Staff]
