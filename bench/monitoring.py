"""Monitoring benchmark (issue 15): detection throughput in replay, the cost on the
request path, and the time from an offending event to a frozen account.

- ``events_per_s`` (the issue's "≥ 100,000 events/s in replay"): ``callvault monitor
  replay``, i.e. ``monitoring.service.replay`` over ``--events`` audit events (200 agents'
  working day) stored in the audit log (SQLite), reading them back and running the shipped
  rules; also printed as ``replay_db_events_per_s``, with ``replay_db_cpu_us_per_event``
  (process CPU time: the machine is shared, so wall rates move with its load, printed as
  ``load_avg_1m``). ``memory_events_per_s``: the same rules over the same events already
  in memory (``DetectionEngine.process`` on dicts, the live engine's path), for comparison.
  ``--pg URL`` (an owner's URL, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
  repeats the replay on a fresh PostgreSQL database (``replay_pg_*``, ``--pg-events``).
- ``added_p99_ms``: p99 of the time the audit writer spends handing one committed batch to
  the engine's subscriber (``MonitoringEngine.offer``: a non-blocking put on a bounded
  queue); ``record_p99_ratio``: p99 of ``audit.log.record`` with the engine subscribed
  over without, measured in the same run (a ratio: absolute figures under load are noise).
- ``freeze_latency_ms``: from the return of ``record`` for the event that crosses a
  freeze rule's threshold to the user's status reading ``frozen`` in the database
  (median of ``--freezes`` runs; ``freeze_latency_max_ms`` the worst).

Run: ``.venv/bin/python bench/monitoring.py [--events 1000000] [--pg URL --pg-events 200000]``.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


REPLAY_DAY = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 09:00 local


def _events(count: int, tenant: str = "bench", start: datetime | None = None) -> list[dict[str, Any]]:
    return list(_generate(count, tenant, start))


def _generate(count: int, tenant: str = "bench", start: datetime | None = None) -> Iterator[dict[str, Any]]:
    rng = random.Random(5)
    moment = start or REPLAY_DAY
    step = timedelta(seconds=8 * 3600 / count)  # one working day
    actions = ["customer.read"] * 8 + ["customer.search", "customer.list"]
    for n in range(count):
        agent = rng.randrange(200)
        action = rng.choice(actions) if n % 1000 else "auth.login"
        denied = rng.random() < 0.001
        yield {
            "time": moment, "tenant_id": tenant, "actor_id": f"user:agent-{agent}", "actor_kind": "user",
            "actor_role": "agent", "session_id": None, "action": action, "resource_type": "customer",
            "resource_id": None, "subject_id": f"c{rng.randrange(100_000)}", "purpose": None,
            "decision": "deny" if denied else "allow", "mask": "masked", "rule": "default.deny" if denied else "frontline.read",
            "reason": None, "request_id": None, "client_ip": f"10.1.{agent % 4}.20", "outcome": "done",
        }  # fmt: skip
        moment += step


def detection_rate(count: int) -> dict[str, float]:
    """The rules over ``count`` events in memory (the live engine's path)."""
    from callvault.monitoring.detectors import DetectionEngine
    from callvault.monitoring.rules import effective_rules

    events = _events(count)
    rules = effective_rules([])
    engine = DetectionEngine(lambda tenant: rules)
    process = engine.process
    started, cpu = time.perf_counter(), time.process_time()
    alerts = 0
    for seq, item in enumerate(events, start=1):
        alerts += len(process(item, seq))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - started
    return {
        "memory_events_per_s": count / wall,
        "memory_cpu_us_per_event": cpu / count * 1e6,
        "detection_alerts": alerts,
    }


def _store(runtime: Any, count: int) -> None:
    """``count`` generated events into the audit log (through the writer, 5,000 a batch)."""
    from callvault.audit import log

    writer, batch = log.writer_for(runtime), []
    for item in _generate(count, start=REPLAY_DAY):
        batch.append(item)
        if len(batch) == 5000:
            writer.append(batch)
            batch = []
    if batch:
        writer.append(batch)


def replay_rate(runtime: Any, count: int) -> dict[str, float]:
    """``monitoring.service.replay`` (what ``callvault monitor replay`` runs) over the
    ``count`` events stored for the replay day: as it chooses (worker processes from
    ``REPLAY_PARALLEL_FROM`` events when cores are idle), then in two worker processes
    (``parallel_*``)."""
    from callvault.access.actor import Actor
    from callvault.monitoring import service

    operator = Actor.operator("bench")
    service.replay(runtime, actor=operator, since=REPLAY_DAY, until=REPLAY_DAY + timedelta(minutes=1))
    figures: dict[str, float] = {}
    for prefix, workers in (("", None), ("parallel_", 2)):
        report = service.replay(
            runtime, actor=operator, since=REPLAY_DAY - timedelta(hours=1), until=REPLAY_DAY + timedelta(days=1),
            workers=workers,
        )  # fmt: skip
        if report.events < count:
            raise SystemExit(f"replay read {report.events} events, {count} stored")
        figures.update({
            f"{prefix}events": report.events, f"{prefix}events_per_s": report.events_per_second,
            f"{prefix}cpu_us_per_event": report.cpu_seconds / max(report.events, 1) * 1e6,
            f"{prefix}workers": report.workers, f"{prefix}alerts": len(report.detections),
        })  # fmt: skip
    return figures


def _runtime(home: Path, database_url: str | None = None, app_role: str | None = None):  # type: ignore[no-untyped-def]
    from callvault.core.config import Settings
    from callvault.core.runtime import build_runtime
    from callvault.crypto.keyrings.local import LocalKeyring

    settings = Settings(home=home, master_key="bench", database_url=database_url, db_app_role=app_role)  # type: ignore[arg-type]
    keyring = LocalKeyring(settings.resolved_keyring_path, "bench", scrypt_n=2**12)
    return build_runtime(settings, keyring=keyring)


def live(stored: int, freezes: int) -> dict[str, float]:
    """On SQLite: the hand-off cost, replay of ``stored`` events, freeze latency."""
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

            # replay from the database (the live engine sees the events as they are stored)
            _store(runtime, stored)
            engine.drain(600)
            figures.update({f"replay_db_{name}": value for name, value in replay_rate(runtime, stored).items()})
            figures["load_avg_1m"] = os.getloadavg()[0]

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


def postgres_replay(owner_url: str, count: int) -> dict[str, float]:
    """Replay on a fresh PostgreSQL database (row-level security on, as deployed), dropped after."""
    import psycopg
    from sqlalchemy.engine import make_url

    from callvault.access.identity import service as identity

    url = make_url(owner_url)
    name, role = f"callvault_bench_{secrets.token_hex(4)}", "callvault_app"
    admin = {"host": url.host, "port": url.port or 5432, "user": url.username, "password": url.password}
    with psycopg.connect(**admin, dbname=url.database, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        with tempfile.TemporaryDirectory() as folder:
            database = url.set(database=name).render_as_string(hide_password=False)
            runtime = _runtime(Path(folder), database, role)
            try:
                with runtime.sessions() as db_session, db_session.begin():
                    identity.create_tenant(db_session=db_session, tenant_id="bench", name="Bench")
                _store(runtime, count)
                figures = {f"replay_pg_{key}": value for key, value in replay_rate(runtime, count).items()}
            finally:
                runtime.close()
    finally:
        with psycopg.connect(**admin, dbname=url.database, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    figures["replay_pg_load_avg_1m"] = os.getloadavg()[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events stored and replayed (and in memory)")
    parser.add_argument("--freezes", type=int, default=5)
    parser.add_argument("--pg", metavar="URL", help="also replay on PostgreSQL (an owner's URL)")
    parser.add_argument("--pg-events", type=int, default=200_000)
    args = parser.parse_args()
    figures: dict[str, float] = {"load_avg_1m_start": os.getloadavg()[0]}
    figures.update(detection_rate(args.events))
    figures.update(live(args.events, args.freezes))
    if args.pg:
        figures.update(postgres_replay(args.pg, args.pg_events))
    for name, value in figures.items():
        if name not in ("added_p99_ms", "freeze_latency_ms"):
            print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")
    print(
        f"events_per_s={figures['replay_db_events_per_s']:.0f} added_p99_ms={figures['added_p99_ms']:.4f}"
        f" freeze_latency_ms={figures['freeze_latency_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
