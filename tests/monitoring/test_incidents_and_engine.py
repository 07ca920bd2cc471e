"""Grading, containment and clocks of incidents; the engine's guarantees to the audit
writer (a failing or saturated subscriber never slows or breaks it); the CLI replay."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from callvault.access.actor import Actor
from callvault.access.decision import Decision, Resource
from callvault.access.identity import service as identity
from callvault.audit import log
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.monitoring.engine import MonitoringEngine
from callvault.monitoring.incidents import grade
from callvault.monitoring.metrics import metrics_of
from tests.access.identity.conftest import FakeClock, bearer, login
from tests.conftest import TenantHandle, auth
from tests.monitoring.conftest import MakeStaff, office_hours


@pytest.mark.parametrize(
    ("subjects", "exposure", "expected"),
    [
        (0, "masked", "low"), (99, "masked", "low"), (100, "masked", "medium"), (1, "clear", "medium"),
        (999, "masked", "medium"), (1000, "masked", "high"), (100, "clear", "high"), (1, "sensitive", "high"),
        (10_000, "masked", "critical"), (1000, "sensitive", "critical"), (999, "sensitive", "high"),
    ],
)  # fmt: skip
def test_grading_rule(subjects: int, exposure: str, expected: str) -> None:
    assert grade(subjects, exposure) == expected


def test_a_failing_subscriber_never_breaks_the_log(runtime: Runtime, tenant: TenantHandle) -> None:
    calls = []

    def broken(events: object, seqs: object) -> None:
        calls.append(seqs)
        raise RuntimeError("subscriber bug")

    unsubscribe = log.subscribe(runtime, broken)
    try:
        with runtime.sessions() as db_session:
            seq = log.record(
                db_session,
                actor=Actor.operator(tenant.id),
                action="customer.list",
                resource=Resource(type="customer", tenant_id=tenant.id),
                decision=Decision(True, "none", "test", "allowed"),
            )
    finally:
        unsubscribe()
    assert seq > 0 and [list(s) for s in calls] == [[seq]]


def test_a_full_queue_drops_and_counts_instead_of_waiting(runtime: Runtime) -> None:
    engine = MonitoringEngine(runtime, max_batches=0)  # never started: every batch is "full"
    before = metrics_of(runtime).dropped._value.get()
    engine.offer([{"action": "customer.read"}] * 3, [1, 2, 3])
    assert metrics_of(runtime).dropped._value.get() == before + 3


def test_append_in_events_reach_subscribers_only_when_the_caller_commits(
    runtime: Runtime, tenant: TenantHandle
) -> None:
    seen: list[int] = []
    unsubscribe = log.subscribe(runtime, lambda events, seqs: seen.extend(seqs))
    event = log.build_event(
        actor=Actor.operator(tenant.id),
        action="customer.list",
        resource=Resource(type="customer", tenant_id=tenant.id),
        decision=Decision(True, "none", "test", "allowed"),
    )
    try:
        with runtime.sessions() as db_session:
            with db_session.begin():
                log.record_many_in(db_session, [event])
                assert seen == []
            committed = list(seen)
            with db_session.begin():
                log.record_many_in(db_session, [event])
                db_session.rollback()
    finally:
        unsubscribe()
    assert len(committed) == 1 and seen == committed


def test_incident_containment_and_clocks_over_the_api(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_person,  # type: ignore[no-untyped-def]
    make_staff: MakeStaff,
    fake_clock: FakeClock,
) -> None:
    office_hours(fake_clock)
    staff = make_staff(tenant.id)
    officer = staff.security
    agent = make_person(tenant.id, "agent")
    token = login(client, agent)["token"]
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        account, leaky_key = identity.create_service_account(db_session=db_session, tenant_id=tenant.id, name="leaky")
        key_id = account.key_id
    opened = client.post(
        "/v1/monitoring/incidents",
        json={"title": "Leaked key and a suspicious agent", "actor_ids": [f"user:{agent.id}"]},
        headers=officer.headers,
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["grade"] == "low" and incident["subject_count"] == 0
    url = f"/v1/monitoring/incidents/{incident['id']}"
    frozen = client.post(
        f"{url}:contain", json={"action": "freeze_user", "target": str(agent.id)}, headers=officer.headers
    )
    assert frozen.status_code == 200, frozen.text
    assert client.get("/v1/customers", headers=bearer(token)).status_code == 401
    revoked = client.post(
        f"{url}:contain", json={"action": "revoke_api_key", "target": key_id}, headers=officer.headers
    )
    assert revoked.status_code == 200, revoked.text
    assert client.get("/v1/customers", headers=auth(leaky_key)).status_code == 401
    kinds = [event["kind"] for event in revoked.json()["timeline"]]
    assert kinds == ["opened", "graded", "containment.freeze_user", "containment.revoke_api_key"]
    assert revoked.json()["status"] == "contained"
    bad = client.post(f"{url}:contain", json={"action": "freeze_user", "target": "nobody"}, headers=officer.headers)
    assert bad.status_code == 404
    assert client.post(f"{url}:contain", json={"action": "wipe"}, headers=officer.headers).status_code == 422
    fake_clock.advance(hours=1)
    from tests.monitoring.conftest import relogin

    relogin(client, officer, fake_clock)
    notified = client.post(f"{url}:notify", json={"audience": "authority"}, headers=officer.headers)
    assert notified.status_code == 200, notified.text
    assert {c["state"] for c in notified.json()["clocks"]} == {"met"}
    english = client.get(f"{url}/drafts/subjects", headers=officer.headers)
    assert english.status_code == 200 and "Notice about your personal information" in english.text
    assert "API key revoked" in client.get(f"{url}/drafts/authority", headers=officer.headers).text
    closed = client.post(f"{url}:close", json={"comment": "Key rotated and agent retrained"}, headers=officer.headers)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    missing = client.get(f"/v1/monitoring/incidents/{uuid.uuid4()}", headers=officer.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "incident.not_found"
    assert client.get(url, headers=bearer(login(client, make_person(tenant.id, "agent"))["token"])).status_code == 403
    assert client.get(url, headers=auth(tenant.api_key)).status_code == 403


def test_cli_replay_prints_the_alerts_and_stores_nothing_by_default(
    runtime: Runtime,
    tenant: TenantHandle,
    cli_env: dict[str, str],
    make_person,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    from tests.monitoring.streams import event

    office_hours(fake_clock)
    agent = make_person(tenant.id, "agent")
    start = fake_clock.moment
    log.record_many(
        runtime,
        [
            event(start + timedelta(seconds=i), f"user:{agent.id}", tenant=tenant.id, subject=f"c{i}")
            for i in range(210)
        ],
    )
    log.writer_for(runtime).sign_head()
    since = (start - timedelta(seconds=1)).isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "callvault", "monitor", "replay", "--tenant", tenant.id, "--since", since],
        env=cli_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"rule": "read_velocity"' in done.stdout and "alerts=1 stored=0" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "callvault", "monitor", "replay", "--tenant", tenant.id, "--since", "yesterday"],
        env=cli_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "datetime.invalid" in bad.stderr


def test_bulk_appended_events_reach_subscribers_on_commit(runtime: Runtime, tenant: TenantHandle) -> None:
    """The bulk path (import's and erasure's one-event-per-subject template) is not a way
    around the monitoring engine."""
    seen: list[tuple[str, int]] = []
    unsubscribe = log.subscribe(
        runtime, lambda events, seqs: seen.extend((e["subject_id"], s) for e, s in zip(events, seqs, strict=True))
    )
    template = log.build_event(
        actor=Actor.operator(tenant.id),
        action="customer.create",
        resource=Resource(type="customer", tenant_id=tenant.id),
        decision=Decision(True, "none", "test", "allowed"),
    )
    subjects = [str(uuid.uuid4()) for _ in range(3)]
    try:
        with runtime.sessions() as db_session:
            with db_session.begin():
                seqs = log.writer_for(runtime).append_like_in(db_session, template, subjects)
                assert seen == []
            with db_session.begin():
                log.writer_for(runtime).append_like_in(db_session, template, [str(uuid.uuid4())])
                db_session.rollback()
    finally:
        unsubscribe()
    assert seen == list(zip(subjects, seqs, strict=True))
