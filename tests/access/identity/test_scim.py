"""SCIM 2.0 /scim/v2/Users as an identity provider calls it: create, filter, PATCH active
(revoking a live session at once), PUT, DELETE, SCIM error documents, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.access.identity import scim
from callvault.core.runtime import Runtime
from tests.access.identity.conftest import bearer, strong_password

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim_token(runtime: Runtime):  # type: ignore[no-untyped-def]
    def make(tenant_id: str) -> str:
        with runtime.sessions() as db_session, db_session.begin():
            _, token = scim.create_token(db_session=db_session, tenant_id=tenant_id, name="okta")
        return token

    return make


def _user(username: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": username,
        "name": {"givenName": "Wei", "familyName": "Zhang", "formatted": "Zhang Wei"},
        "emails": [{"value": f"{username}@example.com", "type": "work", "primary": True}],
        "externalId": f"okta-{username}",
        "active": True,
        **extra,
    }


def _scim_error(response, status: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    return body  # type: ignore[no-any-return]


def test_create_get_filter(client: TestClient, tenant, scim_token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(scim_token(tenant.id))
    created = client.post(
        "/scim/v2/Users", json=_user("Li.Na@example.com", roles=[{"value": "qa", "primary": True}]), headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    body = created.json()
    assert body["userName"] == "li.na@example.com" and body["active"] is True
    assert body["displayName"] == "Zhang Wei" and body["roles"][0]["value"] == "qa"
    assert created.headers["location"].endswith(f"/scim/v2/Users/{body['id']}")

    one = client.get(f"/scim/v2/Users/{body['id']}", headers=headers)
    assert one.status_code == 200 and one.json()["id"] == body["id"]
    found = client.get("/scim/v2/Users", params={"filter": 'userName eq "LI.NA@example.com"'}, headers=headers)
    assert found.status_code == 200
    page = found.json()
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert page["totalResults"] == 1 and page["Resources"][0]["id"] == body["id"]
    by_external = client.get(
        "/scim/v2/Users", params={"filter": 'externalId eq "okta-Li.Na@example.com"'}, headers=headers
    )
    assert by_external.json()["totalResults"] == 1
    none = client.get("/scim/v2/Users", params={"filter": 'userName eq "nobody"'}, headers=headers)
    assert none.json()["totalResults"] == 0 and none.json()["Resources"] == []

    duplicate = client.post("/scim/v2/Users", json=_user("li.na@example.com"), headers=headers)
    assert _scim_error(duplicate, 409)["scimType"] == "uniqueness"
    bad_filter = client.get("/scim/v2/Users", params={"filter": 'title co "x"'}, headers=headers)
    assert _scim_error(bad_filter, 400)["scimType"] == "invalidFilter"
    bad_role = client.post("/scim/v2/Users", json=_user("x1", roles=[{"value": "root"}]), headers=headers)
    assert _scim_error(bad_role, 400)["scimType"] == "invalidValue"
    _scim_error(client.get("/scim/v2/Users/not-a-uuid", headers=headers), 404)
    _scim_error(client.get("/scim/v2/Users", headers=bearer("cvscim_0123456789abcdef.nope")), 401)
    _scim_error(client.get("/scim/v2/Users"), 401)
    _scim_error(client.get("/scim/v2/Users", headers=bearer(tenant.api_key)), 401)  # API keys are not SCIM tokens


def test_patch_active_false_revokes_a_live_session_at_once(client: TestClient, tenant, scim_token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(scim_token(tenant.id))
    password = strong_password()
    created = client.post("/scim/v2/Users", json=_user("wang.fang", password=password), headers=headers).json()
    session = client.post(
        "/v1/auth/login", json={"tenant": tenant.id, "username": "wang.fang", "password": password}
    ).json()["token"]
    assert client.get("/v1/whoami", headers=bearer(session)).status_code == 200

    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    patched = client.patch(f"/scim/v2/Users/{created['id']}", json=patch, headers=headers)
    assert patched.status_code == 200 and patched.json()["active"] is False
    refused = client.get("/v1/whoami", headers=bearer(session))  # the very next request
    assert refused.status_code == 401
    login_again = client.post(
        "/v1/auth/login", json={"tenant": tenant.id, "username": "wang.fang", "password": password}
    )
    assert login_again.status_code == 401

    # Entra ID style: capitalised op, no path, string booleans
    entra = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "value": {"active": "True", "displayName": "Fang W"}}],
    }
    back = client.patch(f"/scim/v2/Users/{created['id']}", json=entra, headers=headers)
    assert back.status_code == 200 and back.json()["active"] is True and back.json()["displayName"] == "Fang W"
    assert (
        client.post(
            "/v1/auth/login", json={"tenant": tenant.id, "username": "wang.fang", "password": password}
        ).status_code
        == 200
    )

    not_patch = client.patch(f"/scim/v2/Users/{created['id']}", json={"Operations": []}, headers=headers)
    assert _scim_error(not_patch, 400)["scimType"] == "invalidSyntax"


def test_put_and_delete(client: TestClient, tenant, scim_token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(scim_token(tenant.id))
    password = strong_password()
    created = client.post("/scim/v2/Users", json=_user("chen.jie", password=password), headers=headers).json()
    replaced = client.put(
        f"/scim/v2/Users/{created['id']}",
        json={"schemas": [scim.USER_SCHEMA], "userName": "chen.jie", "active": True, "roles": [{"value": "intern"}]},
        headers=headers,
    )
    assert replaced.status_code == 200
    body = replaced.json()
    assert body["roles"][0]["value"] == "intern" and "emails" not in body and "displayName" not in body

    session = client.post("/v1/auth/login", json={"tenant": tenant.id, "username": "chen.jie", "password": password})
    token = session.json()["token"]
    deleted = client.delete(f"/scim/v2/Users/{created['id']}", headers=headers)
    assert deleted.status_code == 204
    assert client.get("/v1/whoami", headers=bearer(token)).status_code == 401
    _scim_error(client.get(f"/scim/v2/Users/{created['id']}", headers=headers), 404)
    listed = client.get("/scim/v2/Users", params={"filter": 'userName eq "chen.jie"'}, headers=headers)
    assert listed.json()["totalResults"] == 0
    # the name is free again (the deleted row stays, renamed, for the audit trail)
    assert client.post("/scim/v2/Users", json=_user("chen.jie"), headers=headers).status_code == 201


def test_scim_token_of_one_tenant_cannot_touch_another(client: TestClient, make_tenant, scim_token) -> None:  # type: ignore[no-untyped-def]
    tenant_a, tenant_b = make_tenant(), make_tenant()
    headers_a, headers_b = bearer(scim_token(tenant_a.id)), bearer(scim_token(tenant_b.id))
    in_b = client.post("/scim/v2/Users", json=_user("only.in.b"), headers=headers_b).json()
    _scim_error(client.get(f"/scim/v2/Users/{in_b['id']}", headers=headers_a), 404)
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    _scim_error(client.patch(f"/scim/v2/Users/{in_b['id']}", json=patch, headers=headers_a), 404)
    _scim_error(client.delete(f"/scim/v2/Users/{in_b['id']}", headers=headers_a), 404)
    assert (
        client.get("/scim/v2/Users", params={"filter": 'userName eq "only.in.b"'}, headers=headers_a).json()[
            "totalResults"
        ]
        == 0
    )
    assert client.get(f"/scim/v2/Users/{in_b['id']}", headers=headers_b).json()["active"] is True
    # the same userName may exist in both tenants
    assert client.post("/scim/v2/Users", json=_user("only.in.b"), headers=headers_a).status_code == 201


def test_revoked_scim_token_is_refused(client: TestClient, runtime: Runtime, tenant) -> None:  # type: ignore[no-untyped-def]
    with runtime.sessions() as db_session, db_session.begin():
        row, token = scim.create_token(db_session=db_session, tenant_id=tenant.id)
    assert client.get("/scim/v2/Users", headers=bearer(token)).status_code == 200
    with runtime.sessions() as db_session, db_session.begin():
        scim.revoke_token(db_session=db_session, tenant_id=tenant.id, token_id=row.id)
    _scim_error(client.get("/scim/v2/Users", headers=bearer(token)), 401)


def test_the_idp_cannot_lift_a_security_freeze(client: TestClient, runtime: Runtime, tenant, scim_token) -> None:  # type: ignore[no-untyped-def]
    from callvault.access.actor import Actor
    from callvault.access.identity import users
    from callvault.core.db import tenant_session

    headers = bearer(scim_token(tenant.id))
    created = client.post("/scim/v2/Users", json=_user("frozen.one"), headers=headers).json()
    with tenant_session(runtime.sessions, tenant.id) as db_session:
        users.update_user(
            db_session=db_session,
            actor=Actor.operator(tenant.id),
            user_id=uuid.UUID(created["id"]),
            changes=users.UserChanges(status="frozen"),
        )
    for active in (True, False, True):
        patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": active}]}
        body = client.patch(f"/scim/v2/Users/{created['id']}", json=patch, headers=headers).json()
        assert body["active"] is False and body[scim.CALLVAULT_EXTENSION]["status"] == "frozen"
