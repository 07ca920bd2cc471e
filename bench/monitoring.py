"""Monitoring benchmark (issue 15): detection throughput, the cost on the request path,
and the time from an offending event to a frozen account.

- ``events_per_s``: the shipped rules over ``--events`` generated audit events (200
  agents' normal traffic plus a scraper), in memory: what ``replay`` and the live engine
  spend per event. ``replay_db_events_per_s``: ``monitoring.service.replay`` reading
  ``--stored`` events back from the database (SQLite here) and running the same rules.
- ``added_p99_ms``: p99 of the time the audit writer spends handing one committed batch to
  the engine's subscriber (``MonitoringEngine.offer``: a non-blocking put on a bounded
  queue); ``record_p99_ratio``: p99 of ``audit.log.record`` with the engine subscribed
  over without, measured in the same run (a ratio: absolute figures under load are noise).
- ``freeze_latency_ms``: from the return of ``record`` for the event that crosses a
  freeze rule's threshold to the user's status reading ``frozen`` in the database
  (median of ``--freezes`` runs; ``freeze_latency_max_ms`` the worst).

Run: ``.venv/bin/python bench/monitoring.py [--events 1000000] [--stored 200000]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _events(count: int, tenant: str = "bench", start: datetime | None = None) -> list[dict[str, Any]]:
    rng = random.Random(5)
    moment = start or datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # 09:00 local
    step = timedelta(seconds=8 * 3600 / count)  # one working day
    actions = ["customer.read"] * 8 + ["customer.search", "customer.list"]
    out = []
    for n in range(count):
        agent = rng.randrange(200)
        action = rng.choice(actions) if n % 1000 else "auth.login"
        denied = rng.random() < 0.001
        out.append({
            "time": moment, "tenant_id": tenant, "actor_id": f"user:agent-{agent}", "actor_kind": "user",
            "actor_role": "agent", "session_id": None, "action": action, "resource_type": "customer",
            "resource_id": None, "subject_id": f"c{rng.randrange(100_000)}", "purpose": None,
            "decision": "deny" if denied else "allow", "mask": "masked", "rule": "default.deny" if denied else "frontline.read",
            "reason": None, "request_id": None, "client_ip": f"10.1.{agent % 4}.20", "outcome": "done",
        })  # fmt: skip
        moment += step
    return out


def detection_rate(count: int) -> tuple[float, int]:
    from callvault.monitoring.detectors import DetectionEngine
    from callvault.monitoring.rules import effective_rules

    events = _events(count)
    rules = effective_rules([])
    engine = DetectionEngine(lambda tenant: rules)
    process = engine.process
    started = time.perf_counter()
    alerts = 0
    for seq, item in enumerate(events, start=1):
        alerts += len(process(item, seq))
    return count / (time.perf_counter() - started), alerts


def _runtime(home: Path):  # type: ignore[no-untyped-def]
    from callvault.core.config import Settings
    from callvault.core.runtime import build_runtime
    from callvault.crypto.keyrings.local import LocalKeyring

    settings = Settings(home=home, master_key="bench")  # type: ignore[arg-type]
    keyring = LocalKeyring(settings.resolved_keyring_path, "bench", scrypt_n=2**12)
    return build_runtime(settings, keyring=keyring)


def live(stored: int, freezes: int) -> dict[str, float]:
    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.access.identity import users
    from callvault.audit import log
    from callvault.core.db import tenant_session
    from callvault.monitoring import service
    from callvault.monitoring.engine import start_engine
    from callvault.monitoring.rules import DEFAULT_RULES

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        runtime = _runtime(Path(folder))
        try:
            with runtime.sessions() as db_session, db_session.begin():
                identity.create_tenant(db_session=db_session, tenant_id="bench", name="Bench")
            writer = log.writer_for(runtime)
            # record() without a subscriber, then with the engine subscribed
            one = _events(1)[0]

            daytime = datetime.now(UTC).replace(hour=3)  # 11:00 local: ordinary traffic, no alert

            def record_p99(n: int) -> float:
                times = []
                for k in range(n):
                    started = time.perf_counter()
                    writer.append([{**one, "actor_id": f"user:agent-{k % 200}", "time": daytime}])
                    times.append(time.perf_counter() - started)
                return statistics.quantiles(times, n=100)[98]

            record_p99(200)
            without = record_p99(2000)
            engine = start_engine(runtime)
            offer, offer_times = engine.offer, []

            def timed_offer(events: Any, seqs: Any) -> None:
                started = time.perf_counter()
                offer(events, seqs)
                offer_times.append(time.perf_counter() - started)

            log.subscribe(runtime, timed_offer)
            engine._unsubscribe()  # measured through the wrapper only
            with_engine = record_p99(2000)
            figures["added_p99_ms"] = statistics.quantiles(offer_times, n=100)[98] * 1000
            figures["record_p99_ratio"] = with_engine / without
            engine.drain(60)

            # replay from the database
            batch = _events(stored, start=datetime(2026, 11, 10, 1, 0, tzinfo=UTC))
            for first in range(0, stored, 5000):
                writer.append(batch[first : first + 5000])
            engine.drain(300)
            report = service.replay(
                runtime, actor=Actor.operator("bench"), since=datetime(2026, 11, 10, tzinfo=UTC),
                until=datetime(2026, 11, 11, tzinfo=UTC),
            )  # fmt: skip
            figures["replay_db_events_per_s"] = report.events_per_second
            figures["replay_db_events"] = report.events

            # freeze latency: one rule, a person, reads at the request path's pace
            with tenant_session(runtime.sessions, "bench") as db_session:
                rule = {**next(r for r in DEFAULT_RULES if r["id"] == "read_velocity"), "threshold": 50}
                service.put_rule(
                    db_session=db_session, actor=Actor.operator("bench"), rule_id="read_velocity", document=rule
                )
            latencies = []
            for n in range(freezes):
                with tenant_session(runtime.sessions, "bench") as db_session:
                    user, _ = users.create_user(
                        db_session=db_session, actor=Actor.operator("bench"), username=f"scraper{n}", role="agent"
                    )
                    user_id = user.id
                read = {**one, "actor_id": f"user:{user_id}", "decision": "allow", "rule": "frontline.read"}
                for i in range(51):
                    writer.append(
                        [{**read, "action": "customer.read", "subject_id": f"s{i}", "time": datetime.now(UTC)}]
                    )
                offending = time.perf_counter()
                while True:
                    with tenant_session(runtime.sessions, "bench") as db_session:
                        found = users.get_user(db_session=db_session, tenant_id="bench", user_id=user_id)
                        if found is not None and found.status == "frozen":
                            break
                    if time.perf_counter() - offending > 10:
                        raise SystemExit("not frozen within 10 s")
                    time.sleep(0.0005)
                latencies.append((time.perf_counter() - offending) * 1000)
            figures["freeze_latency_ms"] = statistics.median(latencies)
            figures["freeze_latency_max_ms"] = max(latencies)
        finally:
            runtime.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--freezes", type=int, default=5)
    args = parser.parse_args()
    rate, alerts = detection_rate(args.events)
    figures = live(args.stored, args.freezes)
    print(f"detection_events={args.events} detection_alerts={alerts}")
    for name in ("replay_db_events", "replay_db_events_per_s", "record_p99_ratio", "freeze_latency_max_ms"):
        print(f"{name}={figures[name]:.3f}" if isinstance(figures[name], float) else f"{name}={figures[name]}")
    print(
        f"events_per_s={rate:.0f} added_p99_ms={figures['added_p99_ms']:.4f} freeze_latency_ms={figures['freeze_latency_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
