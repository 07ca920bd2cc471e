"""Replay from the audit log finds exactly what the live engine finds on the same events:
the same rules, actors, times, evidence sequence numbers and summaries, in the same order
(SQLite and PostgreSQL; in one process or split by actor over worker processes), whatever
the stored time text looks like (with and without a fraction), and honours ``since`` /
``until`` to the microsecond."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from callvault.core.runtime import Runtime
from callvault.monitoring.detectors import Detection, DetectionEngine, fields_read
from callvault.monitoring.rules import DEFAULT_RULES, RuleSpec, effective_rules, parse_rule
from tests.conftest import TenantHandle
from tests.monitoring.streams import LOCAL, MONDAY, event, normal_week

FRIDAY = MONDAY + timedelta(days=4)
PLACES = [
    {"network": "203.0.113.0/24", "city": "Beijing", "lat": 39.9, "lon": 116.4},
    {"network": "198.51.100.0/24", "city": "Shanghai", "lat": 31.2, "lon": 121.5},
]


def _default(rule_id: str) -> dict[str, Any]:
    return dict(next(rule for rule in DEFAULT_RULES if rule["id"] == rule_id))


def _rules() -> list[RuleSpec]:
    return effective_rules([
        parse_rule({**_default("impossible_travel"), "locations": PLACES}),
        parse_rule({**_default("service_new_network"), "learn_seconds": 2 * 86400}),
    ])  # fmt: skip


def _attacks(tenant: str) -> list[dict[str, Any]]:
    """One scenario per kind of rule, some at whole seconds (stored without a fraction)."""
    start = (FRIDAY + timedelta(hours=2)).replace(microsecond=0)
    at = FRIDAY + timedelta(hours=4)
    night = FRIDAY - LOCAL + timedelta(hours=26)
    return [
        *(event(start + timedelta(seconds=0.3 * i), "user:agent-3", tenant=tenant, subject=f"x{i}") for i in range(400)),
        *(
            event(FRIDAY + timedelta(hours=1, seconds=30 * i), "user:agent-7", tenant=tenant, subject=f"s{i}")
            for i in range(360)
        ),
        *(
            event(at + timedelta(minutes=m), "user:agent-5", "auth.login", tenant=tenant, ip=ip, rule="auth.password")
            for m, ip in ((0, "203.0.113.7"), (20, "198.51.100.9"), (45, "192.0.2.33"))
        ),
        event(night.replace(microsecond=0), "user:supervisor-1", "export.create", tenant=tenant, role="supervisor"),
        *(
            event(at + timedelta(seconds=20 * i), "user:agent-8", "customer.reveal", tenant=tenant, subject=f"r{i}")
            for i in range(11)
        ),
        *(event(at + timedelta(seconds=5 * i), "user:agent-9", "user.read", tenant=tenant, decision="deny") for i in range(21)),
        *(
            event(at + timedelta(minutes=i), "user:agent-10", tenant=tenant, subject=f"u{i}", decision="deny")
            for i in range(6)
        ),
        event(at, "user:agent-11", "search.enumeration_suspected", tenant=tenant, mask="none"),
        event(
            at, "service_account:backend", "customer.create", tenant=tenant, kind="service_account", role=None,
            ip="45.33.1.2",
        ),
        event(at, "operator:monitoring", "user.read", tenant=tenant, kind="operator", role=None, decision="deny"),
    ]  # fmt: skip


def _live(events: list[dict[str, Any]], seqs: list[int], rules: list[RuleSpec]) -> list[Detection]:
    engine = DetectionEngine(lambda tenant: rules)
    found: list[Detection] = []
    for item, seq in zip(events, seqs, strict=True):
        found.extend(engine.process(item, seq))
    return found


def _view(detections: list[Detection]) -> list[tuple[Any, ...]]:
    return [(d.rule.id, d.actor_id, d.actor_kind, d.at, d.evidence, d.summary) for d in detections]


def test_replay_from_the_log_finds_what_the_live_engine_finds(runtime: Runtime, tenant: TenantHandle) -> None:
    from callvault.access.actor import Actor
    from callvault.audit import log
    from callvault.monitoring import service

    events = sorted([*normal_week(12, tenant=tenant.id), *_attacks(tenant.id)], key=lambda item: item["time"])
    seqs = log.record_many(runtime, events)
    rules = _rules()
    live = _live(events, seqs, rules)
    assert {d.rule.kind for d in live} == {"rate", "off_shift", "networks", "travel", "new_network", "baseline"}
    operator = Actor.operator(tenant.id)
    since, until = events[0]["time"], events[-1]["time"] + timedelta(microseconds=1)

    report = service.replay(runtime, actor=operator, since=since, until=until, rules=rules, chunk=997)
    assert report.events == len(events) and report.workers == 1
    assert _view(report.detections) == _view(live)
    # split by actor over worker processes, merged back in seq order
    for workers in (2, 3):
        report = service.replay(runtime, actor=operator, since=since, until=until, rules=rules, workers=workers)
        assert report.events == len(events) and report.workers == workers and report.cpu_seconds > 0
        assert _view(report.detections) == _view(live)

    # from the middle of the stream, to the microsecond: a fresh engine from there
    cut = next(n for n, item in enumerate(events) if item["time"] >= FRIDAY)
    report = service.replay(runtime, actor=operator, since=events[cut]["time"], until=until, rules=rules)
    assert report.events == len(events) - cut
    assert _view(report.detections) == _view(_live(events[cut:], seqs[cut:], rules))
    # until excludes its own instant
    report = service.replay(runtime, actor=operator, since=since, until=events[cut]["time"], rules=rules)
    assert report.events == len([item for item in events if item["time"] < events[cut]["time"]])


def test_replay_reads_only_the_fields_the_rules_use() -> None:
    plain = parse_rule({"id": "reads", "kind": "rate", "match": {"actions": ["customer.read"]}, "window_seconds": 60,
                        "threshold": 5})  # fmt: skip
    assert fields_read([plain]) == {"action", "decision", "actor_kind", "actor_role", "actor_id"}
    assert fields_read(_rules()) >= {"rule", "subject_id", "client_ip"}
