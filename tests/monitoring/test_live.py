"""The live chain through the real app, database and audit writer: an agent who scrapes is
frozen within a second of the offending read and long before the 1,000th; a security
officer sees the alert with its evidence, opens an incident that lists the affected
customers and shows the 72-hour deadline, and unfreezes the account with a comment, all
in the audit log. Also: webhooks (signed, retried, never blocking), metrics, rules API,
replay without re-freezing."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from callvault.access.approvals import webhooks
from callvault.access.identity import service as identity
from callvault.core.runtime import Runtime
from callvault.monitoring.engine import MonitoringEngine
from tests.access.identity.conftest import FakeClock, bearer, login
from tests.conftest import CAPTURED_LOGS, TenantHandle, auth
from tests.monitoring.conftest import MakeStaff, import_customers, office_hours, raise_read_limits, relogin


def _events(client: TestClient, headers: dict[str, str], action: str) -> list[dict]:  # type: ignore[type-arg]
    response = client.get("/v1/audit/events", params={"action": action, "limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_a_scraping_agent_is_frozen_and_the_officer_handles_it_end_to_end(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_person,  # type: ignore[no-untyped-def]
    make_staff: MakeStaff,
    fake_clock: FakeClock,
    engine: MonitoringEngine,
) -> None:
    office_hours(fake_clock)
    staff = make_staff(tenant.id)
    officer = staff.security
    agent = make_person(tenant.id, "agent")
    raise_read_limits(runtime, tenant.id)
    ids = import_customers(client, tenant.api_key, agent.username, 1000)
    token = login(client, agent)["token"]

    reads = 0
    for customer_id in ids:  # 1,000 customers in 5 minutes: one read every 0.3 s
        response = client.get(f"/v1/customers/{customer_id}", headers=bearer(token))
        if response.status_code == 401:
            break
        assert response.status_code == 200, response.text
        reads += 1
        fake_clock.advance(seconds=0.3)
    assert response.json()["code"] in ("auth.session_invalid", "auth.account_inactive")
    assert 201 <= reads < 1000
    engine.drain()
    print(f"frozen after {reads} reads")

    # the officer sees the alert and its evidence
    relogin(client, officer, fake_clock)
    alerts = client.get("/v1/monitoring/alerts", headers=officer.headers).json()["items"]
    frozen = [a for a in alerts if a["rule_id"] == "read_velocity"]
    assert len(frozen) == 1, alerts
    alert = frozen[0]
    assert alert["actor_id"] == f"user:{agent.id}" and alert["response_taken"] == "frozen"
    assert alert["severity"] == "high" and len(alert["evidence"]) == 201 and alert["summary"]["count"] == 201
    evidence = client.get(
        "/v1/audit/events", params={"after_seq": alert["evidence"][0] - 1, "limit": 1}, headers=officer.headers
    ).json()["items"][0]
    assert evidence["action"] == "customer.read" and evidence["actor_id"] == f"user:{agent.id}"
    assert {a["rule_id"] for a in alerts} <= {"read_velocity", "read_baseline"}

    # an incident from the alert: affected customers, grade, the 72-hour clock
    opened = client.post(
        "/v1/monitoring/incidents",
        json={"title": "Agent scraping customers", "alert_ids": [alert["id"]]},
        headers=officer.headers,
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["subject_count"] == reads - 0 or incident["subject_count"] >= 201
    assert incident["grade"] == "medium" and incident["data_types"] == ["masked_fields"]
    clocks = {c["regime"]: c for c in incident["clocks"]}
    aware = incident["aware_at"]
    assert clocks["gdpr_art33_authority"]["state"] == "open"
    assert clocks["gdpr_art33_authority"]["seconds_left"] > 71 * 3600
    assert incident["authority_due_at"] > aware
    subjects = client.get(
        f"/v1/monitoring/incidents/{incident['id']}/subjects", params={"format": "csv"}, headers=officer.headers
    )
    assert subjects.status_code == 200
    listed = subjects.text.strip().splitlines()
    assert listed[0] == "customer_id" and len(listed) - 1 == incident["subject_count"]
    assert set(listed[1:]) <= set(ids)
    draft = client.get(
        f"/v1/monitoring/incidents/{incident['id']}/drafts/authority", params={"lang": "zh"}, headers=officer.headers
    )
    assert "个人信息安全事件报告" in draft.text and str(incident["subject_count"]) in draft.text
    fake_clock.advance(hours=61)
    later = client.get(f"/v1/monitoring/incidents/{incident['id']}", headers=officer.headers)
    if later.status_code == 401:  # the session idled out: log in again
        relogin(client, officer, fake_clock)
        later = client.get(f"/v1/monitoring/incidents/{incident['id']}", headers=officer.headers)
    assert later.json()["warnings"] == ["gdpr_art33_authority: due_soon", "pipl_art57: overdue"]

    # unfreeze: a comment is required, then the agent works again
    relogin(client, officer, fake_clock)
    url = f"/v1/monitoring/users/{agent.id}:unfreeze"
    assert client.post(url, json={}, headers=officer.headers).status_code == 422
    short = client.post(url, json={"comment": "ok"}, headers=officer.headers)
    assert short.status_code == 422
    lifted = client.post(url, json={"comment": "Checked with the team lead: QA sampling run"}, headers=officer.headers)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["alerts_closed"] == 1
    again = login(client, agent)["token"]
    assert client.get(f"/v1/customers/{ids[0]}", headers=bearer(again)).status_code == 200

    # all of it in the audit log
    freezes = _events(client, officer.headers, "user.freeze")
    assert [(e["actor_id"], e["resource_id"]) for e in freezes] == [("operator:monitoring", str(agent.id))]
    assert any(e["resource_id"] == alert["id"] for e in _events(client, officer.headers, "monitoring.alert"))
    assert len(_events(client, officer.headers, "incident.create")) == 1
    unfreezes = [e for e in _events(client, officer.headers, "monitoring.unfreeze") if e["decision"] == "allow"]
    assert len(unfreezes) == 1 and unfreezes[0]["actor_id"] == officer.actor_id
    assert [e["actor_id"] for e in _events(client, officer.headers, "user.unfreeze")] == [officer.actor_id]


def test_alert_webhooks_are_signed_and_retried_and_never_block(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_person,  # type: ignore[no-untyped-def]
    make_staff: MakeStaff,
    fake_clock: FakeClock,
    engine: MonitoringEngine,
) -> None:
    from tests.access.approvals.test_webhooks import receiver

    office_hours(fake_clock)
    staff = make_staff(tenant.id)
    rule = {
        "kind": "rate", "severity": "low", "response": "alert", "window_seconds": 60, "threshold": 0,
        "match": {"actions": ["monitoring.*"], "decision": "deny"},
    }  # fmt: skip
    put = client.put("/v1/monitoring/rules/any_denied_read", json=rule, headers=staff.security.headers)
    assert put.status_code == 200, put.text
    with receiver(fail_first=1) as got:
        created = client.post("/v1/webhooks", json={"url": got.url}, headers=staff.requester.headers)
        assert created.status_code == 201, created.text
        got.secret = created.json()["secret"]
        dead = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=staff.requester.headers)
        assert dead.status_code == 201
        agent = make_person(tenant.id, "agent")
        token = login(client, agent)["token"]
        denied = client.get("/v1/monitoring/alerts", headers=bearer(token))
        assert denied.status_code == 403
        engine.drain()
        first = webhooks.deliver_due(runtime)
        assert first.sent == 2 and first.retrying == 2  # the receiver's 503 and the dead port
        fake_clock.advance(seconds=31)
        second = webhooks.deliver_due(runtime)
        assert second.delivered == 1 and second.retrying == 1
    body, headers, signed = got.received[-1]
    assert signed and headers["x-callvault-delivery"]
    import orjson

    payload = orjson.loads(body)
    assert payload["type"] == "monitoring.alert" and payload["data"]["rule_id"] == "any_denied_read"
    assert payload["data"]["actor_id"] == f"user:{agent.id}"
    assert not [line for line in CAPTURED_LOGS if got.secret in line]


def test_metrics_need_their_scope_and_carry_no_tenant(
    client: TestClient, runtime: Runtime, tenant: TenantHandle, engine: MonitoringEngine
) -> None:
    denied = client.get("/metrics", headers=auth(tenant.api_key))
    assert denied.status_code == 403
    with runtime.sessions() as db_session, db_session.begin():
        _, key = identity.create_service_account(
            db_session=db_session, tenant_id=tenant.id, name="prometheus", scopes=["metrics:read"]
        )
    client.get("/v1/customers", headers=auth(tenant.api_key))
    engine.drain()
    scraped = client.get("/metrics", headers=auth(key))
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'callvault_decisions_total{action="customer.list",decision="allow"}' in text
    assert 'callvault_decisions_total{action="metrics.read",decision="deny"}' in text
    assert "callvault_alerts_total" in text or "callvault_alerts" in text
    assert "callvault_monitoring_dropped_events_total" in text
    assert tenant.id not in text and "user:" not in text


def test_rules_api_refuses_bad_rules_and_people_without_the_right(
    client: TestClient,
    tenant: TenantHandle,
    make_person,
    make_staff: MakeStaff,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    staff = make_staff(tenant.id)
    headers = staff.security.headers
    listed = client.get("/v1/monitoring/rules", headers=headers).json()
    assert {r["rule"]["id"] for r in listed} >= {"read_velocity", "read_baseline", "login_networks"}
    bad = client.put("/v1/monitoring/rules/read_velocity", json={"kind": "rate", "threshold": -5}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"]  # named field by field
    unknown = client.put(
        "/v1/monitoring/rules/read_velocity",
        json={"kind": "rate", "match": {"actions": ["customer.read"]}, "window_seconds": 60, "threshold": 5, "x": 1},
        headers=headers,
    )
    assert unknown.status_code == 422
    good = client.put(
        "/v1/monitoring/rules/read_velocity",
        json={"kind": "rate", "match": {"actions": ["customer.read"]}, "window_seconds": 60, "threshold": 500},
        headers=headers,
    )
    assert good.status_code == 200, good.text
    listed = {r["rule"]["id"]: r for r in client.get("/v1/monitoring/rules", headers=headers).json()}
    assert listed["read_velocity"]["source"] == "tenant" and listed["read_velocity"]["rule"]["threshold"] == 500
    assert client.delete("/v1/monitoring/rules/read_velocity", headers=headers).status_code == 204
    agent = login(client, make_person(tenant.id, "agent"))["token"]
    assert client.get("/v1/monitoring/alerts", headers=bearer(agent)).status_code == 403
    rule = {"kind": "rate", "match": {"actions": ["*"]}, "window_seconds": 60, "threshold": 1}
    assert client.put("/v1/monitoring/rules/x", json=rule, headers=bearer(agent)).status_code == 403


def test_replay_finds_past_scraping_without_freezing(
    client: TestClient,
    runtime: Runtime,
    tenant: TenantHandle,
    make_person,
    fake_clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    from callvault.access.actor import Actor
    from callvault.audit import log
    from callvault.monitoring import service
    from tests.monitoring.streams import event

    office_hours(fake_clock)
    agent = make_person(tenant.id, "agent")
    start = fake_clock.moment
    log.record_many(
        runtime,
        [
            event(start + timedelta(seconds=i), f"user:{agent.id}", tenant=tenant.id, subject=f"c{i}")
            for i in range(250)
        ],
    )
    operator = Actor.operator(tenant.id)
    report = service.replay(runtime, actor=operator, since=start - timedelta(seconds=1), store=True)
    assert [d.rule.id for d in report.detections] == ["read_velocity"] and report.stored == 1
    assert report.events >= 250
    again = service.replay(runtime, actor=operator, since=start - timedelta(seconds=1), store=True)
    assert again.stored == 0  # same key: nothing twice
    assert login(client, agent)["token"]  # not frozen
