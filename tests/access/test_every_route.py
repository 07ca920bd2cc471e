"""Deny by default, checked on the app itself: every route, called by an actor that holds
nothing, reaches no data, and each refusal it gets from the PDP is in the audit log."""

from __future__ import annotations

import re
import uuid
from typing import NamedTuple

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.identity import service as identity
from callvault.audit.models import AuditEvent
from callvault.core.db import system_session
from callvault.core.runtime import Runtime
from tests.conftest import auth

PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/v1/auth/login"),
}
"""Routes that answer without any permission (they hold no data)."""

OWN_SESSION = {"/v1/auth/logout", "/v1/auth/totp", "/v1/auth/totp/confirm", "/v1/auth/step-up", "/v1/whoami"}
"""Routes about the caller's own credential: service accounts get a 4xx, never data."""


class _Route(NamedTuple):
    path: str


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def test_every_route_denies_an_actor_without_permissions(client: TestClient, runtime: Runtime, make_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    with runtime.sessions() as db_session, db_session.begin():
        _, nothing = identity.create_service_account(db_session=db_session, tenant_id=tenant.id, name="none", scopes=[])
    paths = client.get("/openapi.json").json()["paths"]  # every route the app serves
    assert len(paths) > 15
    checked = 0
    for path, operations in sorted(paths.items()):
        for method in sorted(m.upper() for m in operations if m in ("get", "post", "put", "patch", "delete")):
            route = _Route(path)
            if (method, route.path) in PUBLIC or route.path.startswith("/scim/"):
                continue  # SCIM has its own bearer tokens: tested in tests/access/identity/test_scim.py
            request_id = f"walk-{uuid.uuid4().hex[:12]}"
            response = client.request(
                method,
                _fill(route.path),
                json={},
                headers={**auth(nothing), "x-request-id": request_id},
            )
            checked += 1
            if route.path in OWN_SESSION and response.status_code == 200:
                assert "customer" not in response.text
                continue
            assert response.status_code >= 400, (method, route.path, response.status_code)
            if response.status_code == 403:
                with system_session(runtime.sessions) as db_session:
                    denied = db_session.scalars(
                        select(AuditEvent).where(AuditEvent.request_id == request_id, AuditEvent.decision == "deny")
                    ).all()
                assert denied, f"{method} {route.path}: 403 without a recorded denial"
    assert checked > 20
