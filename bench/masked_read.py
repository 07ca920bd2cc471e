"""Masked-read benchmark (issue 10): 200 agents reading their customers through the full path.

Builds a throw-away instance (temporary CALLVAULT_HOME; SQLite by default, a fresh
PostgreSQL database with ``--pg URL``) and fills it through the product's own services:

- a tenant, one service account (``customers:write``, ``calls:write`` and
  ``customers:import``, which the bulk-import path's policy rule needs) whose actor imports
  ``--per-agent`` generated customers per agent with ``vault.customers.importer``, each
  assigned to one agent (``assigned_agent`` = the agent's username);
- ``--agents`` users of role ``agent`` made by ``access.identity.users.create_user``;
- a tenant policy override (``access.policy.update_tenant_policy``) that raises the
  agents' read quotas (``search_per_minute`` / ``search_per_day``): the shipped default
  allows a person 30 reads a minute, which a load test passes in a second. The shipped
  ``default.yaml`` is not touched.

BENCH-ONLY settings: the server runs with ``CALLVAULT_PASSWORD_TIME_COST=1`` and
``CALLVAULT_PASSWORD_MEMORY_KIB=8192`` (argon2id's floor, the settings the identity code
exposes) so 200 logins take seconds. They only change login cost, never the read path
measured here; never use them in production.

Then it starts ``callvault serve --workers N`` (``--workers``, default 1) on a loopback port,
logs every agent in through ``POST /v1/auth/login`` and lets each agent (its own
``httpx.AsyncClient``, one keep-alive connection) loop ``GET /v1/customers/{id}`` over its
own customers: session check, policy decision, quota charge, data-key unwrap, field
decryption, masking and a durable audit event per read. Then the same request shape
(same route, same bearer header, same response model) against a bench-only FastAPI app
defined here and served by the same uvicorn the same way, reading an unencrypted copy of
the same rows with no session, policy or audit. Same machine, same concurrency, same run.

Only loopback addresses are used; every phase is bounded by ``--seconds`` (plus
``--warmup``). Prints the figures, then these lines last:

    p50_ms=  p95_ms=  p99_ms=  rps=  ratio_p99_vs_plain=

Usage: python bench/masked_read.py [--seconds 20] [--agents 200] [--workers 2] [--pg URL] [--redis URL]
       [--profile DIR]   (py-spy samples of the product server, GIL-holding threads only,
                          folded stacks in DIR/product.folded; py-spy is not a project
                          dependency: `pip install py-spy` and pass --py-spy PATH; a
                          profiled run's figures are slower and not comparable)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TENANT = "bench"
HOST = "127.0.0.1"  # loopback only
APP_ROLE = "callvault_app"
RAISED_LIMITS = {"search_per_minute": 100_000, "search_per_day": 10_000_000}
BENCH_ONLY_ENV = {"CALLVAULT_PASSWORD_TIME_COST": "1", "CALLVAULT_PASSWORD_MEMORY_KIB": "8192"}
"""argon2id at its floor: login cost only (see the module docstring). Bench-only."""


# -- instance -------------------------------------------------------------------------------
@dataclass
class Instance:
    home: Path
    env: dict[str, str]
    database_url: str | None
    app_role: str | None
    plain_url: str
    agents: dict[str, str] = field(default_factory=dict)  # username -> password
    customers: dict[str, list[str]] = field(default_factory=dict)  # username -> customer ids
    clear_mobiles: dict[str, str] = field(default_factory=dict)  # customer id -> stored mobile


@contextlib.contextmanager
def _pg_database(admin_url: str | None) -> Iterator[tuple[str | None, str | None]]:
    """``(database_url, app_role)`` of a fresh PostgreSQL database (dropped afterwards)."""
    if not admin_url:
        yield None, None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    name = f"callvault_bench_{secrets.token_hex(4)}"
    admin = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
            conn.execute(f'CREATE ROLE "{APP_ROLE}" NOLOGIN')
    try:
        yield url.set(database=name).render_as_string(hide_password=False), APP_ROLE
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _plain_table() -> Any:
    """The peer's storage: the same rows in clear, same key, no key or index columns."""
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Uuid

    return Table(
        "bench_plain_customer",
        MetaData(),
        Column("tenant_id", String(63), primary_key=True),
        Column("id", Uuid, primary_key=True),
        *(Column(name, String(300)) for name in ("name", "mobile", "landline", "id_number", "bank_card", "email")),
        Column("address", String(300)),
        Column("membership_level", String(32)),
        Column("assigned_agent", String(64)),
        Column("region", String(64)),
        Column("external_ref", String(128)),
        Column("created_at", DateTime(timezone=True)),
        Column("updated_at", DateTime(timezone=True)),
        Column("version", Integer),
    )


def _setup(instance: Instance, *, agents: int, per_agent: int) -> None:
    """Tenant, service account, customers (bulk import), users, quota override, plain copy."""
    from sqlalchemy import select

    from callvault.access.actor import Actor
    from callvault.access.identity import service as identity
    from callvault.access.identity import users
    from callvault.access.policy import PolicyOverride, update_tenant_policy
    from callvault.core.config import Settings
    from callvault.core.db import create_db_engine, set_tenant
    from callvault.core.runtime import build_runtime
    from callvault.demo.generator import CustomerGenerator
    from callvault.vault.customers import importer
    from callvault.vault.customers.models import Customer
    from callvault.vault.customers.schemas import CustomerCreate

    settings = Settings(
        home=instance.home,
        database_url=instance.database_url,
        db_app_role=instance.app_role,
        master_key=instance.env["CALLVAULT_MASTER_KEY"],  # type: ignore[arg-type]
        password_time_cost=int(BENCH_ONLY_ENV["CALLVAULT_PASSWORD_TIME_COST"]),
        password_memory_kib=int(BENCH_ONLY_ENV["CALLVAULT_PASSWORD_MEMORY_KIB"]),
    )
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as db_session, db_session.begin():
            identity.create_tenant(db_session=db_session, tenant_id=TENANT, name="Bench")
            _, api_key = identity.create_service_account(
                db_session=db_session,
                tenant_id=TENANT,
                name="platform",
                scopes=["customers:write", "customers:import", "calls:write"],
            )
        with runtime.sessions() as db_session:
            platform = identity.authenticate(db_session=db_session, api_key=api_key)

        names = [f"agent-{index:03d}" for index in range(agents)]
        generator = CustomerGenerator(seed=10)
        rows: dict[str, dict[str, Any]] = {}
        for index in range(agents * per_agent):
            row = generator.customer(index)
            row["assigned_agent"] = names[index % agents]
            rows[row["external_ref"]] = row
        lines = [(json.dumps(row, ensure_ascii=False) + "\n").encode() for row in rows.values()]
        report = importer.import_customers(runtime=runtime, actor=platform, lines=lines, fmt="jsonl")
        if report.imported != len(rows):
            raise SystemExit(f"import failed: {report.imported} of {len(rows)} ({report.errors[:3]})")

        for name in names:
            password = f"Bench-{secrets.token_urlsafe(12)}"
            with runtime.sessions() as db_session, db_session.begin():
                set_tenant(db_session, TENANT)
                users.create_user(
                    db_session=db_session, actor=Actor.operator(TENANT), username=name, role="agent", password=password
                )
            instance.agents[name] = password

        with runtime.sessions() as db_session, db_session.begin():
            set_tenant(db_session, TENANT)
            version = update_tenant_policy(
                db_session, tenant_id=TENANT, override=PolicyOverride(limits=dict(RAISED_LIMITS)), by="bench"
            ).version
        print(
            f"quota override: tenant {TENANT!r} policy v{version} via access.policy.update_tenant_policy raises "
            + ", ".join(f"{k}={v}" for k, v in RAISED_LIMITS.items())
            + " (default.yaml unchanged: 30/minute, 2000/day per person)"
        )

        plain_rows = []
        with runtime.sessions() as db_session, db_session.begin():
            set_tenant(db_session, TENANT)
            stored = db_session.execute(
                select(
                    Customer.id,
                    Customer.external_ref,
                    Customer.assigned_agent,
                    Customer.created_at,
                    Customer.updated_at,
                    Customer.version,
                ).where(Customer.tenant_id == TENANT)
            ).all()
        for customer_id, ref, agent, created, updated, version_ in stored:
            clear = CustomerCreate.model_validate(rows[ref]).model_dump()  # the product's normalised values
            instance.customers.setdefault(agent, []).append(str(customer_id))
            instance.clear_mobiles[str(customer_id)] = clear["mobile"]
            plain_rows.append(
                {**clear, "tenant_id": TENANT, "id": customer_id, "created_at": created, "updated_at": updated,
                 "version": version_}
            )  # fmt: skip
    finally:
        runtime.close()

    table = _plain_table()
    engine = create_db_engine(instance.plain_url)
    try:
        table.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), plain_rows)
    finally:
        engine.dispose()
    print(f"set-up: {len(instance.agents)} agents, {len(plain_rows)} customers ({per_agent} per agent)")


def _audit_reads(instance: Instance) -> int:
    """``customer.read`` events the product wrote for the tenant (read after the server stopped)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from callvault.audit.models import AuditEvent
    from callvault.core.config import Settings
    from callvault.core.db import create_db_engine, set_system_scope

    settings = Settings(home=instance.home, database_url=instance.database_url)
    engine = create_db_engine(settings.resolved_database_url)
    try:
        with Session(engine) as db_session, db_session.begin():
            set_system_scope(db_session)
            return int(
                db_session.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(
                        AuditEvent.tenant_id == TENANT,
                        AuditEvent.action == "customer.read",
                        AuditEvent.decision == "allow",
                    )
                )
                or 0
            )
    finally:
        engine.dispose()


# -- servers ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a server: the process and its live worker processes."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends (SIGINT, then SIGKILL after 30 s)."""
    import httpx

    with log.open("ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited ({process.returncode}); see {log}")
            try:
                if httpx.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not start; see {log}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _plain_app(url: str) -> Any:
    """The peer: same route and response model, a clear table, no session/policy/audit."""
    from fastapi import FastAPI, HTTPException
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from callvault.core.db import create_db_engine
    from callvault.vault.customers.schemas import CustomerMasked

    engine = create_db_engine(url)
    table = _plain_table()
    app = FastAPI(title="bench plain peer")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/customers/{customer_id:uuid}", response_model=CustomerMasked)
    def get_customer(customer_id: uuid.UUID) -> Any:
        with Session(engine) as db_session, db_session.begin():
            row = (
                db_session.execute(select(table).where(table.c.tenant_id == TENANT, table.c.id == customer_id))
                .mappings()
                .first()
            )
        if row is None:
            raise HTTPException(404)
        values = dict(row)
        values.pop("tenant_id")
        return CustomerMasked(**values)

    return app


def _plain_factory() -> Any:
    """The plain app of one worker process (``--workers`` > 1): URL from the environment."""
    from callvault.core.config import get_settings
    from callvault.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return _plain_app(os.environ["BENCH_PLAIN_URL"])


def _serve_plain(url: str, port: int, workers: int) -> None:
    """Entry of the plain server process: logging and uvicorn as ``callvault serve`` sets
    them, with as many worker processes as the product gets."""
    import uvicorn

    os.environ["BENCH_PLAIN_URL"] = url
    if workers == 1:
        uvicorn.run(_plain_factory(), host=HOST, port=port, log_config=None)
        return
    uvicorn.run("masked_read:_plain_factory", factory=True, workers=workers, app_dir=str(Path(__file__).parent),
                host=HOST, port=port, log_config=None)  # fmt: skip


# -- load ---------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # completed 200s inside the window
    errors: Counter[str] = field(default_factory=Counter)
    total_ok: int = 0  # every 200, warm-up included (each one must have its audit event)
    window: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.window if self.window else 0.0

    def summary(self) -> str:
        per_request = self.server_cpu / len(self.latencies) * 1000 if self.latencies else float("nan")
        return (
            f"{self.name}: {len(self.latencies)} reads in {self.window:.1f} s = {self.rps:.0f}/s; "
            f"p50 {self.quantile_ms(0.50):.1f} ms, p95 {self.quantile_ms(0.95):.1f} ms, "
            f"p99 {self.quantile_ms(0.99):.1f} ms, max {max(self.latencies, default=0) * 1000:.0f} ms; "
            f"errors {dict(self.errors) or 0}; server CPU {per_request:.2f} ms/read "
            f"({self.server_cpu / self.window:.2f} cores), load generator {self.client_cpu / self.window:.2f} cores"
        )


def _client(base: str, token: str, tls: Any) -> Any:
    """One agent's client: its own keep-alive connection. ``tls`` is one shared context:
    httpx builds (and loads CA certificates into) a new one per client otherwise, ~30 ms
    each, which would starve the event loop for seconds with 200 agents."""
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60, verify=tls
    )


async def _agent(client: Any, ids: list[str], phase: Phase, start: float, end: float, check: dict[str, Any]) -> None:
    import httpx

    async with client:
        index = secrets.randbelow(len(ids))
        first = True
        while True:
            began = time.perf_counter()
            if began >= end:
                return
            customer_id = ids[index % len(ids)]
            index += 1
            try:
                response = await client.get(f"/v1/customers/{customer_id}")
                status = str(response.status_code)
            except httpx.HTTPError as error:
                status = type(error).__name__
                response = None
            done = time.perf_counter()
            if status == "200":
                phase.total_ok += 1
                if first and response is not None:  # one answer per agent checked in full
                    first = False
                    body = response.json()
                    check["checked"] += 1
                    if body["id"] != customer_id or body["assigned_agent"] not in check["agents"]:
                        check["wrong"] += 1
                    if check["masked"] and (
                        "mobile" not in body["masked_fields"] or body["mobile"] == check["mobiles"][customer_id]
                    ):
                        check["unmasked"] += 1
                if began >= start and done <= end:
                    phase.latencies.append(done - began)
            elif began >= start:
                phase.errors[status] += 1


async def _run_load(
    base: str, tokens: dict[str, str], instance: Instance, phase: Phase, warmup: float, seconds: float, masked: bool
) -> dict[str, Any]:
    check: dict[str, Any] = {
        "checked": 0, "wrong": 0, "unmasked": 0, "masked": masked, "mobiles": instance.clear_mobiles,
        "agents": set(tokens),
    }  # fmt: skip
    import ssl

    tls = ssl.create_default_context()
    clients = {name: _client(base, token, tls) for name, token in tokens.items()}  # before the clock starts
    now = time.perf_counter()
    start, end = now + warmup, now + warmup + seconds
    await asyncio.gather(*(_agent(client, instance.customers[name], phase, start, end, check)
                           for name, client in clients.items()))  # fmt: skip
    phase.window = seconds
    return check


async def _login_all(base: str, agents: dict[str, str]) -> dict[str, str]:
    import httpx

    tokens: dict[str, str] = {}
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(name: str, password: str) -> None:
            async with gate:
                response = await client.post(
                    "/v1/auth/login", json={"tenant": TENANT, "username": name, "password": password}
                )
            if response.status_code != 200:
                raise SystemExit(f"login of {name} failed: {response.status_code} {response.text[:200]}")
            tokens[name] = response.json()["token"]

        await asyncio.gather(*(one(name, password) for name, password in agents.items()))
    return tokens


async def _policy_is_live(base: str, tokens: dict[str, str], instance: Instance) -> int:
    """An agent reading another agent's customer must be refused (else the bench measures nothing)."""
    import httpx

    first, second = list(tokens)[:2]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.get(
            f"/v1/customers/{instance.customers[second][0]}", headers={"Authorization": f"Bearer {tokens[first]}"}
        )
    return response.status_code


def _measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    instance: Instance,
    args: argparse.Namespace,
    *,
    login: bool,
    profile: Path | None = None,
) -> Phase:
    base = f"http://{HOST}:{port}"
    phase = Phase(name)
    with _server(command, env, port, instance.home / f"{name}.log") as process:
        if login:
            started = time.perf_counter()
            tokens = asyncio.run(_login_all(base, instance.agents))
            print(f"{name}: {len(tokens)} agents logged in through POST /v1/auth/login in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            refused = asyncio.run(_policy_is_live(base, tokens, instance))
            if refused not in (403, 404):
                raise SystemExit(f"an agent read another agent's customer: HTTP {refused}")
            print(f"{name}: an agent reading another agent's customer gets HTTP {refused}")
        else:
            tokens = {username: f"cvs_plain.{username}" for username in instance.agents}  # same header shape
        spy = None
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                [args.py_spy, "record", "--pid", str(process.pid), "--rate", "200", "--format", "raw",
                 "--duration", str(int(args.warmup + args.seconds)), "--gil",
                 "--output", str(profile / f"{name}.folded")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        server_before, client_before = _cpu_seconds(process.pid), time.process_time()
        check = asyncio.run(_run_load(base, tokens, instance, phase, args.warmup, args.seconds, masked=login))
        phase.server_cpu = _cpu_seconds(process.pid) - server_before
        phase.client_cpu = time.process_time() - client_before
        if args.warmup:  # CPU of the warm-up too: scale to the window
            phase.server_cpu *= args.seconds / (args.seconds + args.warmup)
            phase.client_cpu *= args.seconds / (args.seconds + args.warmup)
        if spy is not None:
            spy.wait(timeout=120)
    if check["wrong"] or check["unmasked"]:
        raise SystemExit(f"{name}: {check['wrong']} wrong rows, {check['unmasked']} unmasked answers")
    print(f"{name}: checked one answer per agent ({check['checked']}): right row"
          + (", mobile masked" if login else ""))  # fmt: skip
    print(phase.summary())
    return phase


# -- main ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per server")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured load before each window")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="server processes, the same for both servers")
    parser.add_argument("--per-agent", type=int, default=10, help="customers assigned to each agent")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL admin URL; a fresh database is made and dropped")
    parser.add_argument("--redis", metavar="URL", help="CALLVAULT_REDIS_URL for the product's counters")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the product server into DIR")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy", help="py-spy executable")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (logs, database)")
    parser.add_argument("--serve-plain", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        _serve_plain(args.serve_plain, args.port, args.workers)
        return
    if not 1 <= args.agents <= 1000 or not 1 <= args.per_agent <= 1000 or not 0 < args.seconds <= 600:
        parser.error("--agents and --per-agent 1..1000, --seconds up to 600")
    if not 1 <= args.workers <= 16:
        parser.error("--workers 1..16")

    import logging

    logging.disable(logging.INFO)
    home = Path(tempfile.mkdtemp(prefix="callvault-bench-read-"))
    try:
        with _pg_database(args.pg) as (database_url, app_role):
            env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
            env.update(BENCH_ONLY_ENV)
            env.update(CALLVAULT_HOME=str(home), CALLVAULT_MASTER_KEY=secrets.token_urlsafe(24))
            if database_url:
                env.update(CALLVAULT_DATABASE_URL=database_url, CALLVAULT_DB_APP_ROLE=app_role or "")
            if args.redis:
                env["CALLVAULT_REDIS_URL"] = args.redis
            plain_url = database_url or f"sqlite:///{home / 'plain.db'}"
            instance = Instance(home, env, database_url, app_role, plain_url)
            backend = "postgresql" if database_url else "sqlite"
            counters = "redis" if args.redis else "database"
            print(f"backend={backend} counters={counters} agents={args.agents} workers={args.workers} "
                  f"seconds={args.seconds} "
                  f"warmup={args.warmup} cpus={os.cpu_count()} python={sys.version.split()[0]}")  # fmt: skip
            print("bench-only settings: " + " ".join(f"{k}={v}" for k, v in BENCH_ONLY_ENV.items())
                  + " (argon2id at its floor: login cost only, never for production)")  # fmt: skip
            _setup(instance, agents=args.agents, per_agent=args.per_agent)

            callvault = str(Path(sys.executable).with_name("callvault"))
            port = _free_port()
            product = _measure(
                "product", [callvault, "serve", "--host", HOST, "--port", str(port), "--workers", str(args.workers)], env, port, instance, args,
                login=True, profile=args.profile,
            )  # fmt: skip
            audited = _audit_reads(instance)
            print(f"product: {audited} customer.read audit events for {product.total_ok} answered reads")
            if audited < product.total_ok:
                raise SystemExit("some answered reads have no audit event")

            port = _free_port()
            plain_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-plain", plain_url, "--port", str(port),
                         "--workers", str(args.workers)]  # fmt: skip
            plain = _measure("plain", plain_cmd, env, port, instance, args, login=False)
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)

    ratio = product.quantile_ms(0.99) / plain.quantile_ms(0.99)
    print(f"load average at the end: {Path('/proc/loadavg').read_text().split()[0]} on {os.cpu_count()} cores "
          "(other processes on the machine take CPU from both servers alike)")  # fmt: skip
    print(f"targets: p99 <= 1.5x plain ({'met' if ratio <= 1.5 else 'MISSED'}), "
          f">= 1500 reads/s ({'met' if product.rps >= 1500 else 'MISSED'})")  # fmt: skip
    print(f"plain_p50_ms={plain.quantile_ms(0.50):.2f}")
    print(f"plain_p95_ms={plain.quantile_ms(0.95):.2f}")
    print(f"plain_p99_ms={plain.quantile_ms(0.99):.2f}")
    print(f"plain_rps={plain.rps:.0f}")
    print(f"ratio_rps_vs_plain={product.rps / plain.rps:.2f}")
    print(f"plain_cpu_ms_per_read={plain.server_cpu / max(1, len(plain.latencies)) * 1000:.2f}")
    print(f"cpu_ms_per_read={product.server_cpu / max(1, len(product.latencies)) * 1000:.2f}")
    print(f"p50_ms={product.quantile_ms(0.50):.2f}")
    print(f"p95_ms={product.quantile_ms(0.95):.2f}")
    print(f"p99_ms={product.quantile_ms(0.99):.2f}")
    print(f"rps={product.rps:.0f}")
    print(f"ratio_p99_vs_plain={ratio:.2f}")


if __name__ == "__main__":
    main()
