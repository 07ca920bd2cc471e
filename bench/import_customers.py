"""Bulk-import benchmark: encrypted vs plaintext through the same storage path.

Generates N customers (Faker pools, seeded) into a JSON-lines file in a child process,
then imports it twice into fresh databases with the real importer: once as CallVault
stores data (per-customer data key wrapped by the tenant KEK, AES-256-GCM per field,
HMAC blind indexes), once with the crypto replaced by identity functions (values stored
as plain bytes, the same rows, columns, batches and transactions). Prints the figures,
then the `name=value` lines other tools read:

    customers_per_s=  ratio_vs_plaintext=  peak_rss_mb=  cpu_us_per_customer=
    plaintext_cpu_us_per_customer=  worker_peak_rss_mb= (the largest worker process)

Usage: python bench/import_customers.py --n 1000000 [--pg] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_URL = os.environ.get("CALLVAULT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _generate(path: str, count: int) -> None:
    from callvault.demo.generator import CustomerGenerator

    with open(path, "wb") as handle:
        handle.writelines(CustomerGenerator(seed=42).jsonl_lines(count))


@contextmanager
def _database(pg: bool, home: Path) -> Iterator[tuple[str | None, str | None]]:
    """``(database_url, app_role)`` of a fresh database, dropped afterwards."""
    if not pg:
        yield None, None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    name = f"callvault_bench_{secrets.token_hex(4)}"
    admin = {"host": url.host, "port": url.port or 5432, "user": url.username, "dbname": url.database}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'callvault_app'").fetchone():
            conn.execute('CREATE ROLE "callvault_app" NOLOGIN')
    try:
        yield url.set(database=name).render_as_string(hide_password=False), "callvault_app"
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _PlainKey:
    """Stands in for a data key: same shape, no cryptography."""

    def __init__(self) -> None:
        self.key_id = uuid.uuid4()

    def seal_many(self, tenant_id: str, table: str, record_id: str, values: dict[str, str]) -> dict[str, bytes]:
        return {column: value.encode() for column, value in values.items()}


class _PlainKeys:
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.kek_ref = "plain"

    def index(self, field: str, value: str) -> bytes:
        return value.encode()[:16]

    def index_suffix(self, field: str, value: str) -> bytes:
        return value.encode()[:8]


@contextmanager
def _plaintext_mode() -> Iterator[None]:
    """Swap the importer's crypto for identity functions; storage path untouched.

    Import workers start from a fork server, which never saw the swap: ``_measured``'s
    worker entry point applies it there too (``_PLAIN_WORKERS``)."""
    from callvault.vault.customers import importer

    global _PLAIN_WORKERS
    _PLAIN_WORKERS = True
    try:
        with _plain_swap(importer):
            yield
    finally:
        _PLAIN_WORKERS = False


_PLAIN_WORKERS = False


@contextmanager
def _plain_swap(importer: Any) -> Iterator[None]:
    def plain_data_key(keyring: Any, kek_ref: str, tenant_id: str, key_id: uuid.UUID) -> tuple[Any, Any]:
        key = _PlainKey()
        key.key_id = key_id
        return key, _Wrapped()

    saved = importer.new_data_key, importer._seal, importer.tenant_keys, importer.open_index_root
    importer.new_data_key = plain_data_key  # type: ignore[assignment]
    importer._seal = _plain_sealed  # type: ignore[assignment]
    importer.tenant_keys = lambda *, db_session, tenant_id: _PlainKeys(tenant_id)  # type: ignore[assignment]
    importer.open_index_root = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        importer.new_data_key, importer._seal, importer.tenant_keys, importer.open_index_root = saved


class _Wrapped:
    kek_version = 1
    blob = bytes(65)


def _plain_sealed(keys: Any, dek: Any, customer_id: str, values: dict[str, Any]) -> tuple[bytes | None, ...]:
    """``importer._seal`` without cryptography: the same columns, values as plain bytes."""
    from callvault.vault.customers.models import ENCRYPTED_FIELDS

    mobile, id_number, email = values["mobile"], values["id_number"], values["email"]
    return (
        *[None if values[f] is None else values[f].encode() for f in ENCRYPTED_FIELDS],
        None if mobile is None else mobile.encode()[:16],
        None if mobile is None else mobile[-4:].encode(),
        None if id_number is None else id_number.encode()[:16],
        None if email is None else email.encode()[:16],
    )


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_worker_usage: dict[int, tuple[float, float]] = {}
_worker_peak_rss_mb = [0.0]
"""Per import worker (pid): its CPU seconds and peak RSS (MB) at its latest batch. The
workers are children of the fork server, not of this process, so ``RUSAGE_CHILDREN``
misses them: each batch brings its worker's own ``getrusage`` back."""


def _measured_worker_prepare(plain: bool, *args: Any) -> Any:
    """The importer's worker entry point, run in a worker: (in plaintext mode, with the
    crypto swapped there too) returns the batch and the worker's usage so far."""
    from callvault.vault.customers import importer

    global _PLAIN_WORKERS
    if plain and not _PLAIN_WORKERS:  # once per worker: the swap lasts as long as it does
        _PLAIN_WORKERS = True
        _SWAPS.append(_plain_swap(importer))  # kept: a collected generator would undo the swap
        _SWAPS[-1].__enter__()
    prepared = _ORIGINAL_WORKER_PREPARE(*args) if _ORIGINAL_WORKER_PREPARE else importer._worker_prepare(*args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return prepared, (os.getpid(), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


_ORIGINAL_WORKER_PREPARE: Any = None
_SWAPS: list[Any] = []


@contextmanager
def _measured_workers() -> Iterator[None]:
    """Route the importer's worker batches through ``_measured_worker_prepare``."""
    from callvault.vault.customers import importer

    global _ORIGINAL_WORKER_PREPARE
    original_prepare, original_map = importer._worker_prepare, importer._Preparer.map
    _ORIGINAL_WORKER_PREPARE = original_prepare
    _worker_usage.clear()

    def map_(self: Any, batches: Any) -> Any:
        for item in original_map(self, batches):
            if isinstance(item, tuple):
                item, (pid, cpu, rss) = item
                _worker_usage[pid] = (cpu, rss)
            yield item

    importer._worker_prepare = functools.partial(_measured_worker_prepare, _PLAIN_WORKERS)  # type: ignore[assignment]
    importer._Preparer.map = map_  # type: ignore[method-assign]
    try:
        yield
    finally:
        importer._worker_prepare, importer._Preparer.map = original_prepare, original_map  # type: ignore[method-assign]


def _import(path: Path, *, pg: bool, plaintext: bool, batch_size: int) -> tuple[float, int, float]:
    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.core.config import Settings
    from callvault.core.runtime import build_runtime
    from callvault.vault.customers import importer

    home = Path(tempfile.mkdtemp(prefix="callvault-bench-"))
    try:
        with _database(pg, home) as (url, role):
            settings = Settings(home=home, database_url=url, db_app_role=role, master_key="bench")  # type: ignore[arg-type]
            runtime = build_runtime(settings)
            with runtime.sessions() as db_session, db_session.begin():
                identity.create_tenant(db_session=db_session, tenant_id="bench", name="Bench")
            mode = _plaintext_mode() if plaintext else _nothing()
            with mode, _measured_workers(), path.open("rb") as lines:
                started, cpu_started = time.perf_counter(), _cpu_seconds()
                report = importer.import_customers(
                    runtime=runtime, actor=Actor.operator("bench"), lines=lines, fmt="jsonl", batch_size=batch_size
                )
                elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
                cpu += sum(worker_cpu for worker_cpu, _ in _worker_usage.values())
                _worker_peak_rss_mb[0] = max([_worker_peak_rss_mb[0], *(rss for _, rss in _worker_usage.values())])
            runtime.close()
        return elapsed, report.imported, cpu
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of the embedded SQLite")
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="callvault-bench-data-"))
    data = workdir / "customers.jsonl"
    child = multiprocessing.get_context("spawn").Process(target=_generate, args=(str(data), args.n))
    child.start()
    child.join()
    print(
        f"generated {args.n} customers ({data.stat().st_size / 1e6:.0f} MB) on {'postgresql' if args.pg else 'sqlite'}"
    )

    load = os.getloadavg()[0]
    encrypted_s, encrypted_n, encrypted_cpu = _import(data, pg=args.pg, plaintext=False, batch_size=args.batch_size)
    print(f"encrypted: {encrypted_n} customers in {encrypted_s:.1f} s, CPU {encrypted_cpu:.1f} s")
    plain_s, plain_n, plain_cpu = _import(data, pg=args.pg, plaintext=True, batch_size=args.batch_size)
    print(f"plaintext: {plain_n} customers in {plain_s:.1f} s, CPU {plain_cpu:.1f} s")
    print(
        f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores: compare CPU per customer)"
    )
    assert encrypted_n == plain_n == args.n, "both runs must import every row"
    shutil.rmtree(workdir, ignore_errors=True)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"customers_per_s={encrypted_n / encrypted_s:.0f}")
    print(f"ratio_vs_plaintext={encrypted_s / plain_s:.2f}")
    print(f"peak_rss_mb={peak_rss_mb:.0f}")
    print(f"worker_peak_rss_mb={_worker_peak_rss_mb[0]:.0f}")
    # CPU of this process and its workers per customer (the database server's not included):
    # what the load on a shared machine does not change; 2 free cores / this = the ceiling
    print(f"cpu_us_per_customer={encrypted_cpu / encrypted_n * 1e6:.1f}")
    print(f"plaintext_cpu_us_per_customer={plain_cpu / plain_n * 1e6:.1f}")


if __name__ == "__main__":
    main()
