"""``create_app``: the FastAPI application, every router mounted here."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request, Response
from sqlalchemy.exc import IntegrityError

from callvault import __version__
from callvault.api.deps import get_actor
from callvault.api.guards import BodyGuard, RequestContext
from callvault.api.problem import (
    install_problem_handlers,
    install_problem_schemas,
    internal_error_response,
    problem_response,
    problem_responses,
    rejected_body_response,
)
from callvault.api.routers import (
    access,
    approvals,
    audit,
    auth,
    calls,
    customers,
    exports,
    lifecycle,
    monitoring,
    pii,
    recordings,
    scim,
    tenant,
    users,
    webhooks,
)
from callvault.core.runtime import Runtime

__all__ = ["create_app"]


_DESCRIPTION = """Data-security and privacy layer for cloud call centers.

**Authenticate** with a service-account key (`Authorization: Bearer cvk_...`) or a person's
session token (`Bearer cvs_...` from `POST /v1/auth/login`). Every error is
`application/problem+json` (RFC 9457) with a stable `code`; NUL (U+0000) is refused in
every string, query and body (422 `request.nul_byte`). Every access goes through one policy
decision point and into the audit log with its outcome.

**How to, step by step** (each step is a route below):
1. *A tenant admin creates people*: log in (`POST /v1/auth/login`), enrol TOTP
   (`POST /v1/auth/totp`, `POST /v1/auth/totp/confirm`), log in again with `totp`, then
   `POST /v1/users` with a role (agent, intern, qa, supervisor, tenant_admin,
   security_officer, dpo, auditor).
2. *An agent sees only their customers, masked*: `GET /v1/customers` lists those whose
   `assigned_agent` is the agent's username or who are on the agent's live call; every
   item says which fields are masked (`masked_fields`) or hidden (`hidden_fields`).
3. *A reveal during a live call*: the CTI integration (`calls:write`) calls
   `POST /v1/calls`; the agent calls `POST /v1/customers/{id}:reveal` with a reason of at
   least 10 characters; after `POST /v1/calls/{id}/end` the same request is refused (403).
   20 reveals a day per person, then 429 with `Retry-After`.
4. *QA and supervisors step up*: `POST /v1/auth/step-up` with a TOTP code; sensitive
   actions answer 401 `auth.step_up_required` when the last one is older than 5 minutes.
5. *Full data needs two approvals*: the admin's reveal answers 403 `approval.required`;
   `POST /v1/approvals` (`kind: full_data`), two other admins or security officers
   `POST /v1/approvals/{id}:approve`, then the reveal works for one hour.
6. *Offboarding*: `PATCH /scim/v2/Users/{id}` with `active: false` (or
   `PATCH /v1/users/{id}` with `status: disabled`) ends every session and grant at once.
7. *Who saw what*: `GET /v1/audit/events`, `GET /v1/audit/subjects/{id}/report` (scope
   `audit:read`, or the auditor, security officer and DPO roles).
"""


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="CallVault",
        version=__version__,
        description=_DESCRIPTION,
        responses=problem_responses(413, 422, 500),  # the body guard, validation and the one 500: every route
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_problem_schemas(app)
    app.add_middleware(BodyGuard)
    app.add_middleware(RequestContext, on_rejected=rejected_body_response, on_error=internal_error_response)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        return problem_response(
            request, status=409, code="conflict", title="Conflict", detail="The change conflicts with stored data"
        )

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
    app.include_router(recordings.router, dependencies=authenticated, responses=denied)
    app.include_router(exports.router, dependencies=authenticated, responses=denied)
    app.include_router(monitoring.router, dependencies=authenticated, responses=denied)
    app.include_router(lifecycle.router, dependencies=authenticated, responses=denied)
    return app
