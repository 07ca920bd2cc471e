"""Staff feeds (CSV) and the offboarding sweep with a pinned clock: absent people are
disabled at once, a stale feed fails closed, and revocation lands within 24 hours."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.actor import Actor
from callvault.access.identity import feed, users
from callvault.access.identity.models import User
from callvault.core.db import tenant_session
from callvault.core.errors import Invalid
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import FakeClock, Person, bearer, login, strong_password


def _rows(text: str) -> list[feed.StaffRow]:
    rows, errors = feed.parse_staff_csv(text)
    assert errors == []
    return rows


def _status(runtime: Runtime, tenant_id: str, username: str) -> str:
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        status = db_session.scalar(select(User.status).where(User.tenant_id == tenant_id, User.username == username))
        assert status is not None
        return status


def _give_password(runtime: Runtime, tenant_id: str, username: str) -> Person:
    password = strong_password()
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        user = users.get_user_by_username(db_session=db_session, tenant_id=tenant_id, username=username)
        assert user is not None
        users.reset_password(db_session=db_session, actor=Actor.operator(tenant_id), user_id=user.id, password=password)
        return Person(tenant_id, user.id, username, password, user.role)


def test_parse_reports_lines_not_values() -> None:
    rows, errors = feed.parse_staff_csv(
        "username,role,display_name,email\n"
        "zhao.lei,agent,Zhao Lei,zhao@example.com\n"
        "qian.li,wizard,Qian Li,\n"
        "bad name!,agent,,\n"
        "zhao.lei,qa,,\n"
        "sun.mei,qa,Sun Mei,not-an-email\n"
    )
    assert [row.username for row in rows] == ["zhao.lei"]
    assert errors == ["line 3: role: unknown", "line 4: username: invalid", "line 5: username: duplicate",
                      "line 6: email: invalid"]  # fmt: skip
    with pytest.raises(Invalid):
        feed.parse_staff_csv("name,role\nx,agent\n")


def test_sync_creates_updates_disables_absent_and_reactivates(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, make_person
) -> None:
    local_admin = make_person(tenant.id, "tenant_admin")  # created by hand, never in the feed
    first = feed.sync_staff(
        runtime,
        tenant.id,
        _rows("username,role,display_name\nzhao.lei,agent,Zhao\nqian.li,agent,Qian\nsun.mei,qa,Sun\n"),
    )
    assert (first.created, first.updated, first.disabled, first.errors) == (3, 0, 0, [])
    qian = _give_password(runtime, tenant.id, "qian.li")
    session = login(client, qian)["token"]
    assert client.get("/v1/whoami", headers=bearer(session)).status_code == 200

    second = feed.sync_staff(
        runtime, tenant.id, _rows("username,role,display_name\nzhao.lei,supervisor,Zhao\nsun.mei,qa,Sun\n")
    )
    assert (second.created, second.updated, second.unchanged, second.disabled) == (0, 1, 1, 1)
    assert _status(runtime, tenant.id, "qian.li") == "disabled"
    assert client.get("/v1/whoami", headers=bearer(session)).status_code == 401  # revoked at once
    assert _status(runtime, tenant.id, local_admin.username) == "active"  # not managed by the feed

    third = feed.sync_staff(
        runtime,
        tenant.id,
        _rows("username,role,display_name\nzhao.lei,supervisor,Zhao\nsun.mei,qa,Sun\nqian.li,agent,Qian\n"),
    )
    assert third.updated == 1 and _status(runtime, tenant.id, "qian.li") == "active"  # back from the feed

    with tenant_session(runtime.sessions, tenant.id) as db_session:  # an admin's decision outlives the feed
        user = users.get_user_by_username(db_session=db_session, tenant_id=tenant.id, username="sun.mei")
        assert user is not None
        users.disable_user(db_session=db_session, actor=Actor.operator(tenant.id), user_id=user.id)
    feed.sync_staff(
        runtime,
        tenant.id,
        _rows("username,role,display_name\nzhao.lei,supervisor,Zhao\nsun.mei,qa,Sun\nqian.li,agent,Qian\n"),
    )
    assert _status(runtime, tenant.id, "sun.mei") == "disabled"


def test_feed_max_age_is_bounded_by_the_24_hour_promise(runtime: Runtime, tenant) -> None:  # type: ignore[no-untyped-def]
    sweep_every = timedelta(minutes=runtime.settings.user_sweep_minutes)
    feed.set_feed_max_age(runtime, tenant.id, timedelta(hours=24) - sweep_every)
    for bad in (timedelta(hours=24) - sweep_every + timedelta(seconds=1), timedelta(0)):
        with pytest.raises(Invalid):
            feed.set_feed_max_age(runtime, tenant.id, bad)


def test_sweep_revokes_a_live_session_within_24_hours_of_the_last_feed(  # type: ignore[no-untyped-def]
    client: TestClient, runtime: Runtime, tenant, fake_clock: FakeClock
) -> None:
    sweep_every = timedelta(minutes=runtime.settings.user_sweep_minutes)
    feed.set_feed_max_age(runtime, tenant.id, timedelta(hours=24) - sweep_every)  # the loosest setting allowed
    last_feed = fake_clock.moment
    feed.sync_staff(runtime, tenant.id, _rows("username,role,display_name\nzhou.qiang,agent,Zhou\n"))
    person = _give_password(runtime, tenant.id, "zhou.qiang")

    # the feed never arrives again; the server sweeps every interval
    while fake_clock.moment < last_feed + timedelta(hours=20):
        fake_clock.advance(hours=1)
        feed.sweep(runtime, tenant_ids=[tenant.id])
        assert _status(runtime, tenant.id, "zhou.qiang") == "active"
    session = login(client, person)["token"]  # at work, session live
    revoked_at = None
    while fake_clock.moment < last_feed + timedelta(hours=25):
        fake_clock.advance(seconds=sweep_every.total_seconds())
        report = feed.sweep(runtime, tenant_ids=[tenant.id])
        alive = client.get("/v1/whoami", headers=bearer(session)).status_code == 200
        if not alive:
            assert report.disabled_stale == 1
            revoked_at = fake_clock.moment
            break
    assert revoked_at is not None
    assert last_feed + timedelta(hours=24) - sweep_every < revoked_at <= last_feed + timedelta(hours=24)
    assert _status(runtime, tenant.id, "zhou.qiang") == "disabled"


def test_sweep_deletes_expired_sessions(
    client: TestClient, runtime: Runtime, tenant, make_person, fake_clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    person = make_person(tenant.id)
    login(client, person)
    fake_clock.advance(minutes=31)
    assert feed.sweep(runtime, tenant_ids=[tenant.id]).expired_sessions == 1


def test_serve_sweeps_in_the_background(client: TestClient, runtime: Runtime, tenant, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    feed.sync_staff(runtime, tenant.id, _rows("username,role,display_name\nbai.yun,agent,Bai\n"))
    person = _give_password(runtime, tenant.id, "bai.yun")
    fake_clock.advance(hours=22)
    session = login(client, person)["token"]
    fake_clock.advance(hours=1, seconds=1)  # past the default 23-hour feed age
    sweeper = feed.start_sweeper(runtime)
    try:
        assert feed.start_sweeper(runtime) is sweeper  # one per runtime
        assert sweeper.passed.wait(timeout=120)  # a safety net, not a timing assertion
        assert client.get("/v1/whoami", headers=bearer(session)).status_code == 401
        assert _status(runtime, tenant.id, "bai.yun") == "disabled"
    finally:
        sweeper.close()
        runtime.caches.pop("identity.sweeper", None)
    assert sweeper.passes >= 1


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault.cli", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_users_commands(cli_env: dict[str, str], runtime: Runtime, tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = _cli(cli_env, "users", "create", "Ma.Chao", "--tenant", tenant.id, "--role", "agent")
    assert created.returncode == 0, created.stderr
    assert "initial password (shown once)" in created.stdout
    assert _status(runtime, tenant.id, "ma.chao") == "active"

    weak = _cli(cli_env, "users", "create", "he.tao", "--tenant", tenant.id, "--role", "agent", "--password-stdin",
                stdin="password1\n")  # fmt: skip
    assert weak.returncode == 2 and "password.weak" in weak.stderr and "password1" not in weak.stderr

    staff = tmp_path / "staff.csv"
    staff.write_text("username,role,display_name,email\nma.chao,qa,Ma Chao,\nlu.xun,agent,Lu Xun,lu@example.com\n")
    synced = _cli(cli_env, "users", "sync", str(staff), "--tenant", tenant.id, "--max-age-hours", "12")
    assert synced.returncode == 0, synced.stderr
    assert "created=1 updated=1" in synced.stdout

    listed = _cli(cli_env, "users", "list", "--tenant", tenant.id)
    assert listed.returncode == 0 and "lu.xun" in listed.stdout and "ma.chao" in listed.stdout

    reset = _cli(cli_env, "users", "reset-password", "lu.xun", "--tenant", tenant.id)
    assert reset.returncode == 0 and "new password (shown once)" in reset.stdout
    disabled = _cli(cli_env, "users", "disable", "lu.xun", "--tenant", tenant.id)
    assert disabled.returncode == 0, disabled.stderr
    assert _status(runtime, tenant.id, "lu.xun") == "disabled"
    missing = _cli(cli_env, "users", "disable", "nobody", "--tenant", tenant.id)
    assert missing.returncode == 4

    token = _cli(cli_env, "users", "scim-token", "--tenant", tenant.id, "--name", "okta")
    assert token.returncode == 0 and "cvscim_" in token.stdout
    swept = _cli(cli_env, "users", "sweep")
    assert swept.returncode == 0 and "disabled=" in swept.stdout
