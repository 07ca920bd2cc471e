"""Lifecycle benchmark (issue 16): erase 10,000 subjects out of 1M, sweep 1M expired calls.

In one run, on the embedded default (or ``--pg``):
1. stores ``--subjects`` customers (a real wrapped data key each; the field ciphertexts are
   opaque bytes of the usual size: erasure never opens them) and ``--calls`` call records
   that ended 60 days ago (``call_metadata`` kept 30 days);
2. erases ``--erase`` random subjects through ``erase_many`` (the CLI's bulk erasure: PDP
   decision per batch, key destroyed, rows deleted, consent chains closed, an audit event,
   a ledger entry (chained; the batch's last one signed) and a signed deletion certificate
   per subject, one ledger fsync per batch, each batch committing while the next one is
   prepared); peer: deleting as many customer rows with one plain DELETE per batch;
3. sweeps the expired calls with the retention sweeper (resumable batches, each its own
   transaction, progress recorded); peer: one plain DELETE of as many rows in a second tenant.

Prints the figures, then:  load_avg=  erase_cpu_us_per_subject=  sweep_cpu_us_per_record=
erase_vs_plain=  sweep_vs_plain=  and last  erase_per_s= sweep_per_s=
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_customers import _database


def _populate(runtime: Any, tenant_id: str, subjects: int, calls: int, batch: int = 20_000) -> list[uuid.UUID]:
    from sqlalchemy import Table

    from callvault.access.identity.models import Tenant
    from callvault.calls.models import LiveCall
    from callvault.core import clock
    from callvault.core.db import bulk_insert, tenant_session
    from callvault.crypto import new_data_key
    from callvault.vault.customers.models import Customer
    from callvault.vault.fields.models import SubjectKey
    from callvault.vault.fields.service import time_ordered_uuid

    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        assert tenant is not None
        kek_ref = tenant.kek_ref
    now = clock.now()
    ended = now - timedelta(days=60)
    ids: list[uuid.UUID] = []
    key_table: Table = SubjectKey.__table__  # type: ignore[assignment]
    customer_table: Table = Customer.__table__  # type: ignore[assignment]
    call_table: Table = LiveCall.__table__  # type: ignore[assignment]
    for start in range(0, subjects, batch):
        keys, customers = [], []
        for _ in range(min(batch, subjects - start)):
            key_id, customer_id = time_ordered_uuid(), time_ordered_uuid()
            _, wrapped = new_data_key(runtime.keyring, kek_ref, tenant_id, key_id)
            keys.append(
                {"tenant_id": tenant_id, "id": key_id, "kek_version": wrapped.kek_version,
                 "wrapped_dek": wrapped.blob, "created_at": now}
            )  # fmt: skip
            customers.append(
                {"tenant_id": tenant_id, "id": customer_id, "subject_key_id": key_id, "name_ct": os.urandom(50),
                 "mobile_ct": os.urandom(56), "email_ct": os.urandom(60), "mobile_bidx": os.urandom(16),
                 "mobile_last4_bidx": os.urandom(8), "region": "CN-BJ", "external_ref": None,
                 "retention_class": "standard", "legal_hold": False, "created_at": now, "updated_at": now, "version": 1}
            )  # fmt: skip
            ids.append(customer_id)
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            bulk_insert(db_session, key_table, keys)
            bulk_insert(db_session, customer_table, customers)
    _calls(runtime, tenant_id, ids, calls, ended, call_table, batch)
    return ids


def _calls(runtime: Any, tenant_id: str, ids: list[uuid.UUID], calls: int, ended: Any, table: Any, batch: int) -> None:
    from callvault.core.db import bulk_insert, tenant_session

    for start in range(0, calls, batch):
        rows = [
            {"tenant_id": tenant_id, "id": f"call-{i:09d}", "agent": f"agent{i % 300}", "customer_id": ids[i % len(ids)],
             "direction": "inbound", "started_at": ended - timedelta(minutes=5), "ended_at": ended, "started_by": "bench"}
            for i in range(start, min(calls, start + batch))
        ]  # fmt: skip
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            bulk_insert(db_session, table, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--erase", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--peer-calls", type=int, default=200_000, help="rows the plain-DELETE peer removes")
    parser.add_argument("--batch", type=int, default=1000, help="subjects per erasure batch")
    parser.add_argument("--sweep-batch", type=int, default=50_000)
    parser.add_argument("--pg", action="store_true")
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    from sqlalchemy import delete

    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.calls.models import LiveCall
    from callvault.core.config import Settings
    from callvault.core.db import tenant_session
    from callvault.core.runtime import build_runtime
    from callvault.lifecycle.flows import erase_many
    from callvault.lifecycle.retention import set_policy, sweep
    from callvault.vault.customers.models import Customer

    home = Path(tempfile.mkdtemp(prefix="callvault-bench-lifecycle-"))
    try:
        with _database(args.pg, home) as (url, role):
            settings = Settings(home=home, database_url=url, db_app_role=role, master_key="bench")  # type: ignore[arg-type]
            runtime = build_runtime(settings)
            tenant_id, peer_id = "bench", "bench-peer"
            with runtime.sessions() as db_session, db_session.begin():
                identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name="bench")
                identity.create_tenant(db_session=db_session, tenant_id=peer_id, name="peer")
            began = time.perf_counter()
            ids = _populate(runtime, tenant_id, args.subjects, args.calls)
            peer_ids = _populate(runtime, peer_id, args.erase, args.peer_calls)
            print(f"setup: {args.subjects} subjects, {args.calls} calls in {time.perf_counter() - began:.1f} s")
            operator = Actor.operator(tenant_id, "bench")
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                set_policy(db_session=db_session, actor=operator, data_class="call_metadata", days=30)

            # -- erasure
            chosen = random.Random(16).sample(ids, args.erase)
            # the CLI holds only the ids it erases: drop the million the setup kept, or every
            # full collection of the timed phases walks them (~0.3 s each at 1M)
            del ids
            gc.collect()
            began, cpu = time.perf_counter(), time.process_time()
            counts = erase_many(runtime, operator, chosen, batch_size=args.batch)
            erase_s, erase_cpu = time.perf_counter() - began, time.process_time() - cpu
            assert counts["erased"] == args.erase, counts
            began = time.perf_counter()
            for start in range(0, len(peer_ids), args.batch):
                with tenant_session(runtime.sessions, peer_id) as db_session:
                    db_session.execute(
                        delete(Customer).where(
                            Customer.tenant_id == peer_id, Customer.id.in_(peer_ids[start : start + args.batch])
                        )
                    )
            plain_erase_s = time.perf_counter() - began
            print(f"erase: {args.erase} subjects in {erase_s:.2f} s; plain row delete {plain_erase_s:.2f} s")

            # -- sweep
            began, cpu = time.perf_counter(), time.process_time()
            report = sweep(runtime, tenant_id, actor=operator, batch_size=args.sweep_batch)
            sweep_s, sweep_cpu = time.perf_counter() - began, time.process_time() - cpu
            swept = next(c for c in report.classes if c.data_class == "call_metadata").deleted
            began = time.perf_counter()
            with tenant_session(runtime.sessions, peer_id) as db_session:
                result = db_session.execute(delete(LiveCall).where(LiveCall.tenant_id == peer_id))
                plain_swept = int(result.rowcount or 0)  # type: ignore[attr-defined]
            plain_sweep_s = time.perf_counter() - began
            # calls of erased subjects went with them: the sweep deletes the rest
            print(
                f"sweep: {swept} expired calls in {sweep_s:.2f} s; plain DELETE {plain_swept} rows in {plain_sweep_s:.2f} s"
            )
            runtime.close()
            erase_rate = args.erase / erase_s
            sweep_rate = swept / sweep_s
            print(f"load_avg={os.getloadavg()[0]:.1f}")
            # CPU of this process (the audit writer and SQLite run in it): less sensitive to a loaded machine
            print(f"erase_cpu_us_per_subject={erase_cpu / args.erase * 1e6:.0f}")
            print(f"sweep_cpu_us_per_record={sweep_cpu / max(swept, 1) * 1e6:.1f}")
            print(f"erase_vs_plain={erase_rate / (args.erase / plain_erase_s):.3f}")
            print(f"sweep_vs_plain={sweep_rate / (plain_swept / plain_sweep_s):.3f}")
            print(f"erase_per_s={erase_rate:.0f} sweep_per_s={sweep_rate:.0f}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
