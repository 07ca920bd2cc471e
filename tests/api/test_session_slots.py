"""Many concurrent requests against a small pool and few worker threads all get answers.

A sync route keeps its transaction's connection until FastAPI has validated the response
in one more worker-thread hop. Without a bound on open request transactions, requests
holding every pooled connection wait for a thread while every thread waits for a
connection, and all of them fail at the pool timeout (found by bench/masked_read.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

from callvault.access.identity import service as identity
from callvault.api import deps
from callvault.api.app import create_app
from callvault.core.runtime import Runtime

POOL = 2
THREADS = 3
REQUESTS = 40


def _small_runtime(base: Runtime) -> Runtime:
    engine = create_engine(
        base.engine.url.render_as_string(hide_password=False),
        pool_size=POOL,
        max_overflow=0,
        pool_timeout=10,
        connect_args={"timeout": 30} if base.engine.dialect.name == "sqlite" else {},
    )
    role = base.settings.db_app_role
    if role:  # as create_db_engine does: the app role that row-level security binds

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute(f'SET ROLE "{role}"')
            dbapi_conn.commit()

    runtime = Runtime(settings=base.settings, engine=engine, sessions=sessionmaker(engine), keyring=base.keyring)
    runtime.sessions.configure(expire_on_commit=False, info={"runtime": runtime})
    return runtime


def test_slots_are_fewer_than_pooled_connections(isolated_runtime: Runtime) -> None:
    small = _small_runtime(isolated_runtime)
    try:
        assert deps._slot_count(small) == 1  # 2 connections, reserve kept for authentication
    finally:
        small.close()


def test_concurrent_reads_with_a_small_pool_and_few_threads_all_answer(isolated_runtime: Runtime) -> None:
    with isolated_runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id="slots", name="Slots")
        _, api_key = identity.create_service_account(db_session=db_session, tenant_id="slots", name="backend")
    small = _small_runtime(isolated_runtime)
    app = create_app(small)
    headers = {"Authorization": f"Bearer {api_key}"}

    async def run() -> list[int]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://slots", timeout=120) as client:
            created = await client.post("/v1/customers", json={"external_ref": "slots-1"}, headers=headers)
            assert created.status_code == 201, created.text
            path = f"/v1/customers/{created.json()['id']}"
            answers = await asyncio.gather(*(client.get(path, headers=headers) for _ in range(REQUESTS)))
        return [answer.status_code for answer in answers]

    try:
        assert asyncio.run(run()) == [200] * REQUESTS
    finally:
        small.close()
