"""Export benchmark: 100,000 customers out through the real pipeline, and a leak trace.

Setup (not timed): N customers generated (Faker pools, seeded) and imported with the real
importer into a fresh SQLite instance; a supervisor, a security officer, a DPO and a
tenant admin; the export chain approves through the approvals service.

Timed, in a fresh child process (so its peak RSS is the export's, not the import's; read
right after the two big exports, before the peer loads its rows):

- ``csv``: one export of every customer (name, mobile, landline, ID, card, e-mail,
  address, level, region): decrypt each field with its customer's data key, mask,
  fingerprint, write CSV, seal (64 KiB AEAD segments) into the blob store, hash, sign.
  Batches of rows are made in worker processes (one per core) and in the exporting
  process itself while the workers are busy; the CPU time reported is that of every
  process (the workers report theirs with each batch).
- ``xlsx``: the same export written as XLSX instead (the workbook from openpyxl, the
  rows written straight into the sheet).
- ``plain_csv`` (the peer): the very rows of the CSV export, already in memory as lists
  of strings, written with the ``csv`` module to a file; ``ratio_vs_plain_csv`` is the
  export's CSV rows per second over the plain writer's.
- ``trace``: 98 more exports (about 500 rows each) make 100; a 20-row fragment of the big
  export, pasted as tab-separated text and re-sorted, is traced among them (median of 5).

Prints the figures, then the ``name=value`` lines:

(wall-clock rows/s; the CPU seconds of all processes and the load average are printed
too: on a shared machine they are the steadier figures)

    peak_rss_mb=  csv_rows_s=  xlsx_rows_s=  ratio_vs_plain_csv=  trace_s=

Usage: python bench/exports.py [--n 100000] [--exports 100]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TENANT = "bench"
FIELDS = ["name", "mobile", "landline", "id_number", "bank_card", "email", "address", "membership_level", "region"]
ROLES = ("supervisor", "supervisor", "supervisor", "supervisor", "security_officer", "dpo", "tenant_admin")


def _peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries it across
    ``exec``, so a spawned child's would start at the RSS its parent had when it forked
    (here the importing process, ~230 MB after the set-up's import), not at its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(path: str, count: int) -> None:
    from callvault.demo.generator import CustomerGenerator

    with open(path, "wb") as handle:
        handle.writelines(CustomerGenerator(seed=42).jsonl_lines(count))


def _settings(home: Path) -> Any:
    from callvault.core.config import Settings

    return Settings(home=home, master_key="bench")  # type: ignore[arg-type]


def _setup(home: Path, data: Path) -> dict[str, list[str]]:
    """Tenant, people (role -> user ids) and customers."""
    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.access.identity import users
    from callvault.core.db import set_tenant
    from callvault.core.runtime import build_runtime
    from callvault.exports.service import SIGNING_KEY_REF
    from callvault.vault.customers import importer

    runtime = build_runtime(_settings(home))
    people: dict[str, list[str]] = {}
    with runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=TENANT, name="Bench")
    for index, role in enumerate(ROLES):
        with runtime.sessions() as db_session, db_session.begin():
            set_tenant(db_session, TENANT)
            user, _ = users.create_user(
                db_session=db_session,
                actor=Actor.operator(TENANT),
                username=f"{role}{index}",
                role=role,
                password=f"Bench-{uuid.uuid4().hex}",
            )
            people.setdefault(role, []).append(f"{user.id}|{user.username}")
    with data.open("rb") as lines:
        report = importer.import_customers(runtime=runtime, actor=Actor.operator(TENANT), lines=lines, fmt="jsonl")
    # the keyring makes its export signing key on first use, once per installation (a
    # scrypt re-derivation to save the keyring file): not part of any export's time
    runtime.keyring.public_key(SIGNING_KEY_REF)
    runtime.close()
    print(f"imported {report.imported} customers")
    return people


def _actor(entry: str, role: str) -> Any:
    from callvault.access.actor import Actor
    from callvault.core import clock

    user_id, username = entry.split("|")
    return Actor(
        tenant_id=TENANT,
        actor_id=f"user:{user_id}",
        kind="user",
        role=role,
        user_id=user_id,
        username=username,
        step_up_at=clock.now(),
    )


def _approved_export(runtime: Any, people: dict[str, list[str]], requester: Any, body: dict[str, Any]) -> uuid.UUID:
    """Request, approve every level (through the approvals service), mark it queued."""
    from callvault.access.approvals import service as approvals
    from callvault.core import clock
    from callvault.core.db import tenant_session
    from callvault.exports import service
    from callvault.exports.models import ExportRequest
    from callvault.exports.schemas import ExportCreate

    with tenant_session(runtime.sessions, TENANT) as db_session:
        export = service.create(db_session=db_session, actor=requester, export_in=ExportCreate(**body))
    for level in export.levels:
        with tenant_session(runtime.sessions, TENANT) as db_session:
            approvals.decide(
                db_session=db_session,
                actor=_actor(people[level][0], level),
                approval_id=export.approval_id,
                approve=True,
            )
    with tenant_session(runtime.sessions, TENANT) as db_session:
        row = db_session.get(ExportRequest, (TENANT, export.id))
        assert row is not None
        assert service._sync(db_session, row, clock.now())  # queued; generated below, timed
    return export.id


def _download(runtime: Any, requester: Any, export_id: uuid.UUID, fmt: str) -> bytes:
    import dataclasses

    from callvault.core import clock
    from callvault.core.db import tenant_session
    from callvault.exports import service

    requester = dataclasses.replace(requester, step_up_at=clock.now())  # a fresh step-up, as a person would
    with tenant_session(runtime.sessions, TENANT) as db_session:
        found = service.download(db_session=db_session, actor=requester, export_id=export_id, fmt=fmt)
    return b"".join(found.chunks)


def _measure(home: str, people: dict[str, list[str]], exports: int, out: Any) -> None:
    import logging

    logging.disable(logging.INFO)
    from callvault.core.db import tenant_session
    from callvault.core.runtime import build_runtime
    from callvault.exports import service

    runtime = build_runtime(_settings(Path(home)))
    supervisors = [_actor(entry, "supervisor") for entry in people["supervisor"]]
    big = {"fields": FIELDS, "purpose": "Benchmark: every customer, every field"}
    results: dict[str, float] = {}

    results["load_start"] = os.getloadavg()[0]
    csv_id = _approved_export(runtime, people, supervisors[0], big)
    started, cpu, stats = time.perf_counter(), time.process_time(), {}
    assert service.generate(runtime, TENANT, csv_id, formats=("csv",), stats=stats) == "ready"
    csv_s, results["csv_cpu_s"] = time.perf_counter() - started, time.process_time() - cpu
    results.update(
        csv_worker_cpu_s=stats["worker_cpu_s"],
        csv_inline_cpu_s=stats["inline_cpu_s"],
        workers=stats["workers"],
        load_csv=os.getloadavg()[0],
    )
    worker_peak = stats["worker_peak_rss_mb"]
    xlsx_id = _approved_export(runtime, people, supervisors[1], big)
    started, cpu, stats = time.perf_counter(), time.process_time(), {}
    assert service.generate(runtime, TENANT, xlsx_id, formats=("xlsx",), stats=stats) == "ready"
    xlsx_s, results["xlsx_cpu_s"] = time.perf_counter() - started, time.process_time() - cpu
    results.update(
        xlsx_worker_cpu_s=stats["worker_cpu_s"], xlsx_inline_cpu_s=stats["inline_cpu_s"], load_xlsx=os.getloadavg()[0]
    )
    results["worker_peak_rss_mb"] = max(worker_peak, stats["worker_peak_rss_mb"])
    with tenant_session(runtime.sessions, TENANT) as db_session:
        rows = service.get_or_raise(db_session=db_session, actor=supervisors[0], export_id=csv_id).row_count or 0
    # peak RSS of the two 100,000-row exports (it only grows: read it before the peer
    # below loads the whole CSV into memory)
    results.update(rows=rows, csv_s=csv_s, xlsx_s=xlsx_s)
    results["peak_rss_mb"] = _peak_rss_mb()
    print(f"[child] exports done: {json.dumps(results)}", flush=True)

    # the peer: the same rows, in memory, through the csv module
    lines = _download(runtime, supervisors[0], csv_id, "csv").decode("utf-8-sig").splitlines()
    table = list(csv.reader(io.StringIO("\n".join(line for line in lines if not line.startswith("# ")))))
    with tempfile.NamedTemporaryFile("w", newline="", encoding="utf-8", suffix=".csv") as handle:
        started, cpu = time.perf_counter(), time.process_time()
        csv.writer(handle).writerows(table)
        handle.flush()
        results["plain_s"], results["plain_cpu_s"] = time.perf_counter() - started, time.process_time() - cpu

    # 100 exports in the tenant, then a 20-row pasted fragment of the big one
    for index in range(exports - 2):
        requester = supervisors[index % len(supervisors)]
        small = {
            "fields": ["name", "mobile", "id_number", "region"],
            "filters": {"assigned_agent": f"agent-{1 + index % 199:03d}"},
            "purpose": "Benchmark: one agent's customers",
        }
        export_id = _approved_export(runtime, people, requester, small)
        assert service.generate(runtime, TENANT, export_id) == "ready"
    fragment_rows = random.Random(1).sample(table[1:], 20)
    fragment = "\n".join("\t".join(row) for row in sorted(fragment_rows, key=lambda row: row[-1])).encode()
    security = _actor(people["security_officer"][0], "security_officer")
    timings = []
    for _ in range(5):
        with tenant_session(runtime.sessions, TENANT) as db_session:
            started = time.perf_counter()
            found = service.trace(db_session=db_session, actor=security, data=fragment)
            timings.append(time.perf_counter() - started)
        assert found.matched and found.export_id == csv_id, found
        assert found.exports_compared == exports, found.exports_compared
    results.update(trace_s=statistics.median(timings), confidence=found.confidence, units=found.units)
    service.jobs_of(runtime).close()
    runtime.close()
    results["peak_rss_all_mb"] = _peak_rss_mb()
    out.put(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--exports", type=int, default=100)
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="callvault-bench-exports-"))
    try:
        data = workdir / "customers.jsonl"
        spawn = multiprocessing.get_context("spawn")
        child = spawn.Process(target=_generate, args=(str(data), args.n))
        child.start()
        child.join()
        home = workdir / "home"
        people = _setup(home, data)
        queue = spawn.Queue()
        child = spawn.Process(target=_measure, args=(str(home), people, args.exports, queue))
        child.start()
        results = json.loads(queue.get())
        child.join()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = results["rows"]
    csv_rows_s = rows / results["csv_s"]
    xlsx_rows_s = rows / results["xlsx_s"]
    plain_rows_s = rows / results["plain_s"]
    csv_cpu = results["csv_cpu_s"] + results["csv_worker_cpu_s"]
    xlsx_cpu = results["xlsx_cpu_s"] + results["xlsx_worker_cpu_s"]
    print(
        f"load average (1 min) at start {results['load_start']:.1f}, after csv {results['load_csv']:.1f}, "
        f"after xlsx {results['load_xlsx']:.1f}; {os.cpu_count()} cores; {results['workers']} worker processes"
    )
    print(
        f"csv export:  {rows} rows in {results['csv_s']:.2f} s ({csv_cpu:.2f} s of CPU: "
        f"{results['csv_cpu_s']:.2f} here, of which {results['csv_inline_cpu_s']:.2f} making batches, "
        f"{results['csv_worker_cpu_s']:.2f} in workers; "
        f"{csv_cpu / rows * 1e6:.1f} us per row)"
    )
    print(
        f"xlsx export: {rows} rows in {results['xlsx_s']:.2f} s ({xlsx_cpu:.2f} s of CPU: "
        f"{results['xlsx_cpu_s']:.2f} here, of which {results['xlsx_inline_cpu_s']:.2f} making batches, "
        f"{results['xlsx_worker_cpu_s']:.2f} in workers; "
        f"{xlsx_cpu / rows * 1e6:.1f} us per row)"
    )
    print(
        f"plain csv module, same rows: {results['plain_s']:.3f} s ({results['plain_cpu_s']:.3f} s of CPU; "
        f"{plain_rows_s:.0f} rows/s)"
    )
    print(
        f"per CPU second, all processes (what one free core does): csv {rows / csv_cpu:.0f} rows, "
        f"xlsx {rows / xlsx_cpu:.0f} rows, plain csv {rows / results['plain_cpu_s']:.0f} rows"
    )
    print(
        f"trace: 20-row fragment among {args.exports} exports: {results['trace_s'] * 1000:.0f} ms "
        f"(confidence {results['confidence']:.6f}, {results['units']} units)"
    )
    print(f"peak RSS of the whole child, with the peer's 100,000 rows in memory: {results['peak_rss_all_mb']:.0f} MB")
    print(
        f"peak RSS of the export's worker processes, summed: {results['worker_peak_rss_mb']:.0f} MB "
        f"(peak_rss_mb is the exporting process alone)"
    )
    print(f"peak_rss_mb={results['peak_rss_mb']:.0f}")
    print(f"csv_rows_s={csv_rows_s:.0f}")
    print(f"xlsx_rows_s={xlsx_rows_s:.0f}")
    print(f"ratio_vs_plain_csv={csv_rows_s / plain_rows_s:.3f}")
    print(f"trace_s={results['trace_s']:.3f}")


if __name__ == "__main__":
    main()
