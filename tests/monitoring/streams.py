"""Generated audit event streams: a normal week of agents, and the attack scenarios."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MONDAY = datetime(2026, 11, 16, 0, 0, 0, 123_457, tzinfo=UTC)  # 08:00 in UTC+8
LOCAL = timedelta(hours=8)


def event(
    at: datetime,
    actor: str,
    action: str = "customer.read",
    *,
    tenant: str = "acme",
    kind: str = "user",
    role: str | None = "agent",
    decision: str = "allow",
    subject: str | None = None,
    ip: str | None = "10.1.1.20",
    rule: str = "frontline.read",
    mask: str = "masked",
) -> dict[str, Any]:
    return {
        "time": at,
        "tenant_id": tenant,
        "actor_id": actor,
        "actor_kind": kind,
        "actor_role": role,
        "session_id": None,
        "action": action,
        "resource_type": "customer",
        "resource_id": subject,
        "subject_id": subject,
        "purpose": None,
        "decision": decision,
        "mask": mask if decision == "allow" else "none",
        "rule": rule if decision == "allow" else "default.deny",
        "reason": None,
        "request_id": None,
        "client_ip": ip,
        "outcome": "done" if decision == "allow" else "denied",
    }


@dataclass
class Agent:
    actor: str
    rate: float  # reads per working hour
    start: int  # local shift start hour
    office_ip: str


def normal_week(agents: int = 200, *, seed: int = 7, days: int = 7, tenant: str = "acme") -> Iterator[dict[str, Any]]:
    """Agents working 8-hour shifts (local 08:00-21:00) on weekdays, 10-50 reads an hour,
    a few searches, a login or two a day from one of two office networks, a reveal now
    and then during calls, a denial now and then; a backend key working around the clock
    from its data-center network. Time-ordered."""
    rng = random.Random(seed)
    people = [
        Agent(
            f"user:agent-{n}",
            rng.uniform(10, 50),
            rng.choice([8, 9, 10, 12, 13]),
            rng.choice(["10.1.1.20", "10.2.7.9"]),
        )
        for n in range(agents)
    ]
    stream: list[dict[str, Any]] = []
    for day in range(days):
        midnight_local = MONDAY - LOCAL + timedelta(days=day)
        if (midnight_local + LOCAL).weekday() >= 5:
            continue
        for agent in people:
            shift = midnight_local + timedelta(hours=agent.start)
            stream.append(
                event(
                    shift + timedelta(minutes=rng.uniform(0, 5)),
                    agent.actor,
                    "auth.login",
                    tenant=tenant,
                    ip=agent.office_ip,
                    rule="auth.password",
                )
            )
            if rng.random() < 0.3:  # back from lunch: a second login
                stream.append(
                    event(
                        shift + timedelta(hours=4, minutes=rng.uniform(0, 10)),
                        agent.actor,
                        "auth.login",
                        tenant=tenant,
                        ip=agent.office_ip,
                        rule="auth.password",
                    )
                )
            own = [f"c-{agent.actor}-{k}" for k in range(300)]
            for hour in range(8):
                count = max(0, int(rng.gauss(agent.rate, agent.rate**0.5)))
                for _ in range(count):
                    at = shift + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                    action = "customer.search" if rng.random() < 0.1 else "customer.read"
                    stream.append(
                        event(at, agent.actor, action, tenant=tenant, subject=rng.choice(own), ip=agent.office_ip)
                    )
                if rng.random() < 0.2:
                    at = shift + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                    stream.append(
                        event(
                            at,
                            agent.actor,
                            "customer.reveal",
                            tenant=tenant,
                            subject=rng.choice(own),
                            ip=agent.office_ip,
                            rule="agent.reveal",
                            mask="clear",
                        )
                    )
                if rng.random() < 0.05:
                    at = shift + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                    stream.append(
                        event(
                            at,
                            agent.actor,
                            "customer.read",
                            tenant=tenant,
                            subject="c-other",
                            decision="deny",
                            ip=agent.office_ip,
                        )
                    )
        for minute in range(0, 24 * 60, 2):
            at = midnight_local + timedelta(minutes=minute, seconds=rng.uniform(0, 60))
            stream.append(
                event(
                    at,
                    "service_account:backend",
                    "customer.create",
                    tenant=tenant,
                    kind="service_account",
                    role=None,
                    subject=f"s-{day}-{minute}",
                    ip="172.16.0.4",
                    rule="scope.customers.write",
                )
            )
    stream.sort(key=lambda item: item["time"])
    yield from stream


def numbered(
    events: list[dict[str, Any]] | Iterator[dict[str, Any]], first: int = 1
) -> list[tuple[dict[str, Any], int]]:
    return [(item, seq) for seq, item in enumerate(events, start=first)]
