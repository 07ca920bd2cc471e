"""The rules over generated streams: a normal week alerts nothing (the false-positive rate
is measured and must be zero), and each attack scenario, mixed into normal traffic,
produces exactly its expected alerts."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest

from callvault.core.errors import Invalid
from callvault.monitoring.detectors import Detection, DetectionEngine
from callvault.monitoring.rules import RuleSpec, effective_rules, parse_rule
from tests.monitoring.streams import LOCAL, MONDAY, event, normal_week

FRIDAY = MONDAY + timedelta(days=4)  # 08:00 local on Friday


@functools.cache
def _week(agents: int) -> tuple[dict[str, Any], ...]:
    return tuple(normal_week(agents))


def run(events: Iterable[dict[str, Any]], overrides: list[RuleSpec] | None = None) -> list[tuple[Detection, int]]:
    rules = effective_rules(overrides or [])
    engine = DetectionEngine(lambda tenant: rules)
    found = []
    for seq, item in enumerate(sorted(events, key=lambda e: e["time"]), start=1):
        found.extend((detection, seq) for detection in engine.process(item, seq))
    return found


def with_normal(extra: list[dict[str, Any]], overrides: list[RuleSpec] | None = None) -> set[tuple[str, str]]:
    found = run([*_week(40), *extra], overrides)
    return {(detection.rule.id, detection.actor_id) for detection, _ in found}


def test_a_normal_week_of_200_agents_raises_no_alert() -> None:
    events = _week(200)
    found = run(events)
    actors = {e["actor_id"] for e in events}
    agent_days = 200 * 5
    false_positive_rate = len(found) / agent_days
    print(f"events={len(events)} actors={len(actors)} alerts={len(found)} false_positive_rate={false_positive_rate}")
    assert len(events) > 200_000
    assert found == []


def test_a_fast_scraper_is_caught_at_the_201st_read() -> None:
    start = FRIDAY + timedelta(hours=2)
    scrape = [event(start + timedelta(seconds=0.3 * i), "user:agent-3", subject=f"x{i}") for i in range(1000)]
    found = run([*_week(40), *scrape])
    mine = [(d, seq) for d, seq in found if d.actor_id == "user:agent-3"]
    assert {d.rule.id for d, _ in mine} == {"read_velocity", "read_baseline"}
    velocity = next(d for d, _ in mine if d.rule.id == "read_velocity")
    assert velocity.rule.response == "freeze"
    assert velocity.summary["count"] == 201 and len(velocity.evidence) == 201
    assert velocity.at == start + timedelta(seconds=0.3 * 200)  # the 201st read, after 60 s
    assert {d.actor_id for d, _ in found} == {"user:agent-3"}


def test_logins_from_three_cities_within_an_hour() -> None:
    places = [
        {"network": "203.0.113.0/24", "city": "Beijing", "lat": 39.9, "lon": 116.4},
        {"network": "198.51.100.0/24", "city": "Shanghai", "lat": 31.2, "lon": 121.5},
        {"network": "192.0.2.0/24", "city": "Guangzhou", "lat": 23.1, "lon": 113.3},
    ]
    travel = parse_rule({**_default("impossible_travel"), "locations": places})
    start = FRIDAY + timedelta(hours=3)
    logins = [
        event(start + timedelta(minutes=m), "user:agent-5", "auth.login", ip=ip, rule="auth.password")
        for m, ip in ((0, "203.0.113.7"), (20, "198.51.100.9"), (45, "192.0.2.33"))
    ]
    assert with_normal(logins, [travel]) == {("login_networks", "user:agent-5"), ("impossible_travel", "user:agent-5")}


def test_a_night_time_export() -> None:
    night = FRIDAY - LOCAL + timedelta(hours=26)  # 02:00 local on Saturday
    export = [event(night, "user:supervisor-1", "export.create", role="supervisor", rule="supervisor.export")]
    assert with_normal(export) == {("off_shift_export", "user:supervisor-1")}


def test_the_same_export_by_day_raises_nothing() -> None:
    day = FRIDAY + timedelta(hours=3)
    assert with_normal([event(day, "user:supervisor-1", "export.create", role="supervisor")]) == set()


def test_a_slow_scraper_under_every_fixed_threshold_breaks_its_own_baseline() -> None:
    start = FRIDAY + timedelta(hours=1)
    slow = [event(start + timedelta(seconds=30 * i), "user:agent-7", subject=f"s{i}") for i in range(360)]  # 120/h
    assert with_normal(slow) == {("read_baseline", "user:agent-7")}


def test_reveal_burst_denials_unassigned_enumeration() -> None:
    at = FRIDAY + timedelta(hours=4)
    reveals = [
        event(at + timedelta(seconds=20 * i), "user:agent-8", "customer.reveal", subject=f"r{i}", mask="clear")
        for i in range(11)
    ]
    probes = [event(at + timedelta(seconds=5 * i), "user:agent-9", "user.read", decision="deny") for i in range(21)]
    unassigned = [event(at + timedelta(minutes=i), "user:agent-10", subject=f"u{i}", decision="deny") for i in range(6)]
    enumeration = [
        event(at, "user:agent-11", "search.enumeration_suspected", rule="monitor.search_enumeration", mask="none")
    ]
    assert with_normal([*reveals, *probes, *unassigned, *enumeration]) == {
        ("reveal_burst", "user:agent-8"),
        ("repeated_denials", "user:agent-9"),
        ("unassigned_access", "user:agent-10"),
        ("search_enumeration", "user:agent-11"),
    }


def test_a_service_account_from_a_new_network_after_it_learned_its_own() -> None:
    at = FRIDAY + timedelta(hours=5)
    odd = event(at, "service_account:backend", "customer.create", kind="service_account", role=None, ip="45.33.1.2")
    learned = parse_rule({**_default("service_new_network"), "learn_seconds": 2 * 86400})
    assert with_normal([odd]) == set()  # still learning: 7 days by default
    assert with_normal([odd], [learned]) == {("service_new_network", "service_account:backend")}


def test_per_actor_shifts_and_disabled_rules_are_data() -> None:
    night = FRIDAY - LOCAL + timedelta(hours=26)
    export = [event(night, "user:supervisor-1", "export.create", role="supervisor")]
    night_shift = parse_rule({**_default("off_shift_export"), "shifts": {"user:supervisor-1": {"start": 22, "end": 6}}})
    assert with_normal(export, [night_shift]) == set()
    off = parse_rule({**_default("off_shift_export"), "enabled": False})
    assert with_normal(export, [off]) == set()


def _default(rule_id: str) -> dict[str, Any]:
    from callvault.monitoring.rules import DEFAULT_RULES

    return dict(next(rule for rule in DEFAULT_RULES if rule["id"] == rule_id))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"surprise": 1}, "surprise"),
        ({"threshold": -1}, "threshold"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"max_networks": 3}, "max_networks"),  # not a field of kind rate
        ({"severity": "apocalyptic"}, "severity"),
        ({"response": "delete_everything"}, "response"),
        ({"match": {"actions": []}}, "actions"),
        ({"match": {"actions": ["customer.read"], "colour": "red"}}, "colour"),
        ({"match": {"actions": ["DROP TABLE"]}}, "actions"),
        ({"kind": "baseline"}, "window_seconds"),
    ],
)
def test_invalid_rules_are_refused(change: dict[str, Any], where: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_rule({**_default("read_velocity"), **change})
    assert raised.value.code == "monitoring.rule_invalid"
    assert where in raised.value.detail


def test_a_rule_missing_its_kinds_fields_is_refused() -> None:
    document = _default("read_velocity")
    del document["threshold"]
    with pytest.raises(Invalid, match="threshold: required"):
        parse_rule(document)
