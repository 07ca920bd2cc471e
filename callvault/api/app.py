"""``create_app``: the FastAPI application, every router mounted here."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import Depends, FastAPI, Request, Response
from sqlalchemy.exc import IntegrityError

from callvault import __version__
from callvault.api.deps import get_actor
from callvault.api.guards import BodyGuard, RejectedBody
from callvault.api.problem import (
    install_problem_handlers,
    install_problem_schemas,
    internal_error_response,
    problem_response,
    problem_responses,
    rejected_body_response,
)
from callvault.api.routers import access, approvals, audit, auth, calls, customers, pii, scim, tenant, users, webhooks
from callvault.core.runtime import Runtime

__all__ = ["create_app"]

_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="CallVault",
        version=__version__,
        description="Data-security and privacy layer for cloud call centers. "
        "Authenticate with a service-account key: `Authorization: Bearer cvk_...`. "
        "Every error is `application/problem+json` (RFC 9457) with a stable `code`; NUL (U+0000) is "
        "refused in every string, query and body (422 `request.nul_byte`).",
        responses=problem_responses(413, 422, 500),  # the body guard, validation and the one 500: every route
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_problem_schemas(app)
    app.add_middleware(BodyGuard)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        return problem_response(
            request, status=409, code="conflict", title="Conflict", detail="The change conflicts with stored data"
        )

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if 0 < len(given) <= 64 and set(given) <= _REQUEST_ID_OK else uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = await call_next(request)
        except RejectedBody as rejected:  # raised by BodyGuard before any route ran
            response = rejected_body_response(request, rejected)
        except Exception as error:  # anything no handler took: answered here, never re-raised to the server
            response = internal_error_response(request, error)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["x-request-id"] = request_id
        return response

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    authenticated = [Depends(get_actor)]
    denied = problem_responses(401, 403, 429)  # credentials, the policy decision point, quotas
    app.include_router(tenant.router, dependencies=authenticated, responses=denied)
    app.include_router(customers.router, dependencies=authenticated, responses=denied)
    app.include_router(audit.router, dependencies=authenticated, responses=denied)
    app.include_router(pii.router, dependencies=authenticated, responses=denied)
    app.include_router(pii.stream_router)  # authenticates the upgrade itself
    app.include_router(auth.public_router)  # login: no credential yet
    app.include_router(auth.router, dependencies=authenticated, responses=denied)
    app.include_router(users.router, dependencies=authenticated, responses=denied)
    app.include_router(approvals.router, dependencies=authenticated, responses=denied)
    app.include_router(webhooks.router, dependencies=authenticated, responses=denied)
    app.include_router(calls.router, dependencies=authenticated, responses=denied)
    app.include_router(access.router, dependencies=authenticated, responses=denied)
    app.include_router(scim.router)  # SCIM bearer tokens, checked by its own dependency
    return app
