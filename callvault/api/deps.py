"""Request-scoped dependencies: the runtime, the authenticated actor, the tenant session."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.core.db import set_tenant
from callvault.core.errors import Unauthenticated
from callvault.core.runtime import Runtime

__all__ = ["CurrentActor", "DbSession", "get_actor", "get_db_session", "get_runtime"]

_bearer = HTTPBearer(auto_error=False, description="Service-account API key: `cvk_<id>.<secret>`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> Actor:
    if credentials is None:
        raise Unauthenticated("An API key is required (Authorization: Bearer ...)", code="auth.missing")
    with runtime.sessions() as db_session:
        actor = identity.authenticate(db_session=db_session, api_key=credentials.credentials)
    client = request.client.host if request.client else None
    actor = dataclasses.replace(actor, request_id=request.state.request_id, client_ip=client)
    request.state.actor = actor
    return actor


def get_db_session(
    actor: Annotated[Actor, Depends(get_actor)], runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Iterator[Session]:
    """One transaction per request, bound to the actor's tenant; commits on success."""
    with runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, actor.tenant_id)
        yield db_session


CurrentActor = Annotated[Actor, Depends(get_actor)]
DbSession = Annotated[Session, Depends(get_db_session)]
