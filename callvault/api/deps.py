"""Request-scoped dependencies: the runtime, the authenticated actor, the tenant session.

Two kinds of bearer credential reach ``get_actor``: service-account API keys
(``cvk_...``) and people's session tokens (``cvs_...``, from ``POST /v1/auth/login``).
A session of a role that must enrol TOTP first reaches only ``/v1/auth/`` routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.access.identity import sessions
from callvault.core.db import bind_tenant_on_begin
from callvault.core.errors import Unauthenticated
from callvault.core.runtime import Runtime

__all__ = [
    "CurrentActor",
    "DbSession",
    "PublicDbSession",
    "get_actor",
    "get_db_session",
    "get_public_db_session",
    "get_runtime",
    "in_transaction",
]

T = TypeVar("T")

_bearer = HTTPBearer(
    auto_error=False,
    description="Service-account API key `cvk_<id>.<secret>`, or a session token `cvs_<id>.<secret>` "
    "from `POST /v1/auth/login`.",
)
_ENROL_ONLY_PREFIX = "/v1/auth/"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_actor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    """The caller. A credential this replica checked within ``identity.checked.CHECK_SECONDS``
    answers from memory on the event loop; anything else is looked up in a worker thread."""
    if credentials is None:
        raise Unauthenticated(
            "An API key or session token is required (Authorization: Bearer ...)", code="auth.missing"
        )
    runtime = get_runtime(request)
    client = request.client.host if request.client else None
    request_id = request.state.request_id
    token = credentials.credentials
    if token.startswith(sessions.SESSION_PREFIX):
        found = sessions.authenticate_session_cached(runtime, token=token, request_id=request_id, client_ip=client)
        if found is None:
            found = await run_in_threadpool(_check_session, runtime, token, request_id, client)
        if found.enrol_only and not request.url.path.startswith(_ENROL_ONLY_PREFIX):
            raise Unauthenticated(
                "Enrol TOTP first (POST /v1/auth/totp): this role requires two-factor authentication",
                code="auth.totp_enrolment_required",
            )
        actor = found.actor
    else:
        known = identity.authenticate_cached(runtime, api_key=token)
        actor = known if known is not None else await run_in_threadpool(_check_api_key, runtime, token)
        actor = dataclasses.replace(actor, request_id=request_id, client_ip=client)
    request.state.actor = actor
    return actor


def _check_session(runtime: Runtime, token: str, request_id: str, client: str | None) -> sessions.SessionActor:
    with runtime.sessions() as db_session, db_session.begin():
        return sessions.authenticate_session(
            db_session=db_session, token=token, request_id=request_id, client_ip=client
        )


def _check_api_key(runtime: Runtime, token: str) -> Actor:
    with runtime.sessions() as db_session:
        return identity.authenticate(db_session=db_session, api_key=token)


_RESERVED_CONNECTIONS = 4
_UNBOUNDED_SLOTS = 64


def _slot_count(runtime: Runtime) -> int:
    """Fewer request transactions than the pool has connections (see ``_session_slots``)."""
    pool = runtime.engine.pool
    overflow = int(getattr(pool, "_max_overflow", -1))
    if overflow < 0:
        return _UNBOUNDED_SLOTS
    return max(1, int(getattr(pool, "size", lambda: 1)()) + overflow - _RESERVED_CONNECTIONS)


def _session_slots(runtime: Runtime) -> asyncio.Semaphore:
    """The bounded number of request-transaction slots, waited for without a thread.

    A sync route keeps its transaction's connection until FastAPI has validated the
    response in one more worker-thread hop. Unbounded, enough concurrent requests hold
    every pooled connection while waiting for a thread, while every thread waits for a
    connection: the server stalls until the pool timeout (bench/masked_read.py, 200
    agents). With fewer slots than connections a thread waiting for one always gets it."""
    gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = runtime.caches.setdefault(
        "api.session_slots", weakref.WeakKeyDictionary()
    )
    loop = asyncio.get_running_loop()
    gate = gates.get(loop)
    if gate is None:
        gate = gates[loop] = asyncio.Semaphore(_slot_count(runtime))
    return gate


async def get_db_session(request: Request, actor: Annotated[Actor, Depends(get_actor)]) -> AsyncIterator[Session]:
    """One transaction per request, bound to the actor's tenant; committed on success.

    Opened without touching the database: the transaction begins, and is bound to the
    tenant (``core.db.bind_tenant_on_begin``), in the worker thread that first uses it.
    ``in_transaction`` runs a service and commits in that one thread; a sync route's
    transaction is committed here, in one more thread hop. Each hop was a tenth of a
    masked read's CPU, and each dependency FastAPI solves costs too: the runtime and the
    slot are taken here, not as dependencies of their own (bench/masked_read.py)."""
    runtime = get_runtime(request)
    async with _session_slots(runtime):
        db_session = runtime.sessions()
        bind_tenant_on_begin(db_session, actor.tenant_id)
        async with _finishing(db_session):
            yield db_session


async def get_public_db_session(request: Request) -> AsyncIterator[Session]:
    """A transaction for unauthenticated routes (login); the service binds the tenant."""
    runtime = get_runtime(request)
    async with _session_slots(runtime):
        db_session = runtime.sessions()
        async with _finishing(db_session):
            yield db_session


@contextlib.asynccontextmanager
async def _finishing(db_session: Session) -> AsyncIterator[None]:
    """Commit on success, roll back on error, close: in a worker thread only when a
    transaction is open (``in_transaction`` already committed, or nothing was read)."""
    try:
        yield
    except BaseException:
        if db_session.in_transaction():
            await run_in_threadpool(_end, db_session, commit=False)
        else:
            db_session.close()
        raise
    if db_session.in_transaction():
        await run_in_threadpool(_end, db_session, commit=True)
    else:
        db_session.close()


def _end(db_session: Session, *, commit: bool) -> None:
    try:
        if commit:
            db_session.commit()
        else:
            db_session.rollback()
    finally:
        db_session.close()


async def in_transaction(db_session: Session, call: Callable[..., T], /, **kwargs: Any) -> T:
    """``call(db_session=db_session, **kwargs)`` and the commit, in one worker thread.

    For ``async def`` routes: the route's only thread hop (FastAPI validates an async
    route's answer on the event loop; a sync route costs a hop for that too). The work is
    committed before the answer is sent, as with a sync route."""

    def work() -> T:
        result = call(db_session=db_session, **kwargs)
        db_session.commit()
        return result

    return await run_in_threadpool(work)


CurrentActor = Annotated[Actor, Depends(get_actor)]
DbSession = Annotated[Session, Depends(get_db_session)]
PublicDbSession = Annotated[Session, Depends(get_public_db_session)]
