"""Connection pools under load, as found by bench/masked_read.py.

With one bounded pool (15 connections), 20 concurrent agents held every connection while
each waited for the audit writer or a quota counter to get one more, and every read failed
after the 30 s pool timeout; with 100 agents, requests holding a connection waited for a
worker thread (FastAPI validates a sync route's response in another thread hop) while
every thread waited for a connection. The audit writer and the counters now use a second
pool, the pools are larger, and the API keeps fewer request transactions open than
the pool has connections (tests/api/test_session_slots.py).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from callvault.access.actor import Actor
from callvault.access.decision import Decision, Resource
from callvault.audit import log
from callvault.core import clock
from callvault.core.db import _PG_POOL_SIZE
from callvault.core.runtime import Runtime

OLD_CAPACITY = 15
"""SQLAlchemy's default pool: 5 kept + 10 overflow."""


def test_the_request_pool_outgrows_the_old_default(isolated_runtime: Runtime) -> None:
    """SQLite: no limit (file handles); PostgreSQL: its configured size, above the old 15."""
    sqlite = isolated_runtime.engine.dialect.name == "sqlite"
    count = 3 * OLD_CAPACITY if sqlite else _PG_POOL_SIZE
    assert count > OLD_CAPACITY
    with contextlib.ExitStack() as held:
        connections = [held.enter_context(isolated_runtime.engine.connect()) for _ in range(count)]
        assert all(connection.execute(text("SELECT 1")).scalar_one() == 1 for connection in connections)


def test_requests_holding_every_pooled_connection_still_audit_and_count(isolated_runtime: Runtime) -> None:
    runtime = isolated_runtime
    holders = OLD_CAPACITY + 5
    every_connection_held = threading.Barrier(holders, timeout=60)
    actor = Actor(tenant_id="t-pool", actor_id="service:pool", kind="service_account")
    allow = Decision(True, "none", "test.pool", "allowed")

    def request(index: int) -> tuple[int, int]:
        with runtime.sessions() as db_session, db_session.begin():
            db_session.execute(text("SELECT 1"))  # this request's connection, held until the end
            every_connection_held.wait()
            total = runtime.counters.hit(f"pool-test:{index}", window_seconds=60, now=clock.now())
            seq = log.record(
                db_session,
                actor=actor,
                action="pool.test",
                resource=Resource(type="test", tenant_id=actor.tenant_id, id=str(uuid.uuid4())),
                decision=allow,
            )
        return total, seq

    with ThreadPoolExecutor(max_workers=holders) as threads:
        results = list(threads.map(request, range(holders)))
    assert [total for total, _ in results] == [1] * holders
    seqs = sorted(seq for _, seq in results)
    assert seqs == list(range(seqs[0], seqs[0] + holders))  # gapless, one each


def test_side_pool_is_separate_and_closed_with_the_runtime(isolated_runtime: Runtime) -> None:
    runtime = isolated_runtime
    side = runtime.side_sessions
    assert side is runtime.side_sessions
    with side() as db_session:
        assert db_session.get_bind() is not runtime.engine
        assert db_session.get_bind().url == runtime.engine.url
        assert db_session.info["runtime"] is runtime  # services reached from it find the runtime
        assert db_session.execute(text("SELECT 1")).scalar_one() == 1
    runtime.close()
    assert runtime._side is None
