"""Credentials checked from memory: a change committed in this replica ends them at once."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from callvault.access.identity import checked
from callvault.access.identity import service as identity
from callvault.access.identity.models import Tenant
from callvault.core.db import set_tenant
from callvault.core.runtime import Runtime
from callvault.crypto import parse_api_key
from tests.conftest import TenantHandle, auth


def _key_id(api_key: str) -> str:
    parsed = parse_api_key(api_key)
    assert parsed is not None
    return parsed[0]


def test_a_revoked_key_fails_on_the_next_request(client: TestClient, runtime: Runtime, tenant: TenantHandle) -> None:
    assert client.get("/v1/customers", headers=auth(tenant.readonly_key)).status_code == 200
    assert checked.recall(runtime, tenant.readonly_key) is not None  # the check is kept...
    with runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, tenant.id)
        identity.revoke_service_account(db_session=db_session, tenant_id=tenant.id, key_id=_key_id(tenant.readonly_key))
    assert checked.recall(runtime, tenant.readonly_key) is None  # ...until a change is committed
    refused = client.get("/v1/customers", headers=auth(tenant.readonly_key))
    assert refused.status_code == 401 and refused.json()["code"] == "auth.invalid_key"


def test_a_rolled_back_change_keeps_the_checks(client: TestClient, runtime: Runtime, tenant: TenantHandle) -> None:
    assert client.get("/v1/customers", headers=auth(tenant.api_key)).status_code == 200
    with runtime.sessions() as db_session:
        db_session.begin()
        set_tenant(db_session, tenant.id)
        identity.revoke_service_account(db_session=db_session, tenant_id=tenant.id, key_id=_key_id(tenant.api_key))
        db_session.rollback()
    assert checked.recall(runtime, tenant.api_key) is not None
    assert client.get("/v1/customers", headers=auth(tenant.api_key)).status_code == 200


def test_a_check_that_began_before_a_change_is_not_kept(runtime: Runtime) -> None:
    since = checked.generation(runtime)
    tenant_id = f"gen-{uuid.uuid4().hex[:12]}"
    with runtime.sessions() as db_session, db_session.begin():
        identity.create_tenant(db_session=db_session, tenant_id=tenant_id, name="G")
    with runtime.sessions() as db_session, db_session.begin():  # a committed identity change
        tenant = db_session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.status = "suspended"
    assert checked.generation(runtime) > since
    checked.remember(runtime, since, "cvk_stale.token", object())
    assert checked.recall(runtime, "cvk_stale.token") is None
