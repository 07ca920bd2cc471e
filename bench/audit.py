"""Audit-log benchmark: Merkle-hashed durable appends vs plain inserts, verify, proofs.

In one run, on the embedded default (or ``--pg``):
1. appends N events through the real writer (batched group commits: leaf hashing, Merkle
   nodes, signed tree heads every 1000 events) and inserts the same rows, in the same
   batches, into a plain table with no hashing;
2. runs the full ``audit verify`` (reading every row back, recomputing every hash and
   checking every signed head), records the verified head, appends ``--new`` events and
   runs the routine (incremental) verify from it;
3. builds inclusion proofs for random events against the latest head (DB-backed).

Prints the figures, then:  appends_per_s=  ratio_vs_plain=  verify_events_per_s=  proof_ms_p99=
incremental_verify_s=  verify_cpu_us_per_event=  incremental_verify_cpu_s=
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_customers import _database


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (verify's own workers are
    the fork server's children: their CPU comes in ``VerifyReport.worker_cpu_seconds``)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _events(count: int, start: int) -> list[dict[str, Any]]:
    from callvault.core import clock

    now = clock.now()
    actions = ("customer.read", "customer.search", "customer.update", "customer.reveal")
    return [
        {
            "time": now, "tenant_id": f"tenant-{i % 5}", "actor_id": f"sa:{i % 97:016x}",
            "actor_kind": "service_account", "actor_role": "service", "session_id": None,
            "action": actions[i % 4], "resource_type": "customer", "resource_id": f"01a21088-b019-7452-bb71-{i:012x}",
            "subject_id": f"01a21088-b019-7452-bb71-{i:012x}", "purpose": None,
            "decision": "allow" if i % 13 else "deny", "mask": "masked", "rule": "scope.customers:read",
            "reason": "allowed", "request_id": f"{i:032x}", "client_ip": "10.0.0.7",
        }
        for i in range(start, start + count)
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--new", type=int, default=10_000, help="events added before the incremental verify")
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    from sqlalchemy import Column, Index, MetaData, Table

    from callvault.audit import service
    from callvault.audit.log import AuditWriter
    from callvault.audit.models import AuditEvent
    from callvault.audit.verify import verify_log
    from callvault.core.config import Settings
    from callvault.core.db import bulk_insert
    from callvault.core.runtime import build_runtime

    home = Path(tempfile.mkdtemp(prefix="callvault-bench-audit-"))
    try:
        with _database(args.pg, home) as (url, role):
            settings = Settings(home=home, database_url=url, db_app_role=role, master_key="bench")  # type: ignore[arg-type]
            runtime = build_runtime(settings)
            writer = AuditWriter(runtime, head_every=1000, head_seconds=3600)
            # The same columns and indexes (the query API needs them either way), no hashing.
            source = AuditEvent.__table__
            plain = Table(
                "audit_event_plain", MetaData(),
                *[Column(c.name, c.type, primary_key=c.primary_key) for c in source.columns if c.name != "leaf_hash"],
            )  # fmt: skip
            for index in source.indexes:
                Index(f"{index.name}_plain", *[plain.c[c.name] for c in index.columns])
            owner = runtime.engine if not role else None
            from callvault.core.db import create_db_engine

            owner = create_db_engine(settings.resolved_migration_url)
            plain.create(owner)
            if role:
                with owner.begin() as conn:
                    conn.exec_driver_sql(f'GRANT SELECT, INSERT ON audit_event_plain TO "{role}"')
            owner.dispose()

            audit_s = plain_s = 0.0
            for start in range(0, args.n, args.batch):
                batch = _events(min(args.batch, args.n - start), start)
                began = time.perf_counter()
                writer.append(batch)
                audit_s += time.perf_counter() - began
                rows = [{**event, "seq": start + offset + 1} for offset, event in enumerate(batch)]
                began = time.perf_counter()
                with runtime.sessions() as db_session, db_session.begin():
                    bulk_insert(db_session, plain, rows)
                plain_s += time.perf_counter() - began
            writer.sign_head()
            print(f"appended {args.n} events: audit log {audit_s:.1f} s, plain table {plain_s:.1f} s")

            began, cpu_began = time.perf_counter(), _cpu_seconds()
            with runtime.engine.connect() as conn:
                report = verify_log(conn, runtime.keyring.public_key("audit"))
            verify_s, verify_cpu = time.perf_counter() - began, _cpu_seconds() - cpu_began
            verify_cpu += report.worker_cpu_seconds
            assert report.ok and report.events == args.n, [f.line() for f in report.findings[:3]]
            print(f"verify: {report.events} events, {report.heads} heads in {verify_s:.1f} s")

            # Routine verify: from the head the full run verified, after 10,000 new events.
            from callvault.audit.verify import latest_verified, record_verified
            from callvault.core.db import system_session

            assert report.verified is not None
            with system_session(runtime.sessions) as db_session:
                record_verified(db_session, runtime.keyring, report.verified)
            for start in range(args.n, args.n + args.new, args.batch):
                writer.append(_events(min(args.batch, args.n + args.new - start), start))
            writer.sign_head()
            began, cpu_began = time.perf_counter(), _cpu_seconds()
            with runtime.engine.connect() as conn:
                incremental = verify_log(conn, runtime.keyring.public_key("audit"), resume=latest_verified(conn))
            incremental_s, incremental_cpu = time.perf_counter() - began, _cpu_seconds() - cpu_began
            assert incremental.ok and incremental.start == args.n, [f.line() for f in incremental.findings[:3]]
            print(f"incremental verify: {incremental.events - incremental.start} new events on a "
                  f"{incremental.events}-event log in {incremental_s:.2f} s")  # fmt: skip

            # Proof construction (DB reads + hashing), as served for any event of the log...
            from callvault.access.actor import Actor
            from callvault.audit import merkle
            from callvault.audit.log import node_source

            rng = random.Random(1)
            timings = []
            with runtime.sessions() as db_session:
                size = service.heads(db_session=db_session)[-1].size
                get_node = node_source(db_session)
                for _ in range(args.proofs):
                    seq = rng.randrange(1, args.n + 1)
                    began = time.perf_counter()
                    merkle.inclusion_proof(seq - 1, size, get_node)
                    timings.append((time.perf_counter() - began) * 1000)
            timings.sort()
            p99 = timings[int(len(timings) * 0.99) - 1]
            # ...and the whole API call, which also records the auditor's own access durably.
            api = []
            with runtime.sessions() as db_session:
                for _ in range(min(args.proofs, 300)):
                    seq = rng.randrange(1, args.n + 1)
                    began = time.perf_counter()
                    service.inclusion_proof(
                        db_session=db_session, actor=Actor.operator(f"tenant-{(seq - 1) % 5}", "bench"), seq=seq
                    )
                    api.append((time.perf_counter() - began) * 1000)
            api.sort()
            print(f"inclusion proofs: {len(timings)}, median {timings[len(timings) // 2]:.2f} ms; "
                  f"service call incl. durable audit of the read: median {api[len(api) // 2]:.2f} ms")  # fmt: skip
            runtime.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"appends_per_s={args.n / audit_s:.0f}")
    print(f"ratio_vs_plain={audit_s / plain_s:.2f}")
    print(f"verify_events_per_s={args.n / verify_s:.0f}")
    print(f"proof_ms_p99={p99:.2f}")
    print(f"incremental_verify_s={incremental_s:.3f}")
    # CPU of the verifier and its workers per event (PostgreSQL's own not included): what the
    # load on a shared machine does not change; 2 free cores / this = the ceiling
    print(f"verify_cpu_us_per_event={verify_cpu / args.n * 1e6:.2f}")
    print(f"incremental_verify_cpu_s={incremental_cpu:.3f}")


if __name__ == "__main__":
    main()
