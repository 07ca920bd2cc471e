"""Customers end to end over HTTP: real app, real database, real crypto."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.demo.generator import CustomerGenerator
from tests.conftest import TenantHandle, auth, remember_pii

_generator = CustomerGenerator(seed=11)
_index = iter(range(10_000, 1_000_000))


def new_customer(**overrides: Any) -> dict[str, Any]:
    row = _generator.customer(next(_index))
    row.update(overrides)
    remember_pii(row)
    return row


def create(client: TestClient, tenant: TenantHandle, row: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/customers", json=row, headers=auth(tenant.api_key))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_returns_masked_values(client: TestClient, tenant: TenantHandle) -> None:
    row = new_customer(name="王小明", mobile="138 1234 5678", address="广东省深圳市南山区科技园路1号3栋502室")
    body = create(client, tenant, row)
    assert body["name"] == "王**"
    assert body["mobile"] == "138****5678"
    assert body["id_number"] == row["id_number"][:4] + "*" * 10 + row["id_number"][-4:]
    assert body["bank_card"] == f"{row['bank_card'][:4]} **** **** {row['bank_card'][-4:]}"
    assert body["address"] == "广东省深圳市南山区****"
    assert body["email"].startswith(row["email"][0] + "***@")
    text = str(body)
    for field in ("mobile", "id_number", "bank_card", "email"):
        assert row[field] not in text


def test_get_search_and_list(client: TestClient, tenant: TenantHandle) -> None:
    row = new_customer()
    created = create(client, tenant, row)
    got = client.get(f"/v1/customers/{created['id']}", headers=auth(tenant.api_key))
    assert got.status_code == 200 and got.json() == created

    spaced = f"+86 {row['mobile'][:3]} {row['mobile'][3:7]} {row['mobile'][7:]}"
    for criterion in (
        {"mobile": spaced},
        {"id_number": row["id_number"].lower()},
        {"email": row["email"].upper()},
        {"external_ref": row["external_ref"]},
        {"mobile_last4": row["mobile"][-4:]},
    ):
        found = client.post("/v1/customers:search", json=criterion, headers=auth(tenant.api_key))
        assert found.status_code == 200, found.text
        assert created["id"] in [item["id"] for item in found.json()], criterion

    listed = client.get("/v1/customers?limit=1", headers=auth(tenant.api_key)).json()
    assert len(listed["items"]) == 1


def test_pagination_walks_every_customer_once(client: TestClient, tenant: TenantHandle) -> None:
    ids = {create(client, tenant, new_customer())["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        url = "/v1/customers?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=auth(tenant.api_key)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


def test_update_changes_only_given_fields_and_reindexes(client: TestClient, tenant: TenantHandle) -> None:
    row = new_customer()
    created = create(client, tenant, row)
    new_mobile = "13900001111"
    remember_pii(new_mobile)
    response = client.patch(
        f"/v1/customers/{created['id']}",
        json={"mobile": new_mobile, "expected_version": 1},
        headers=auth(tenant.api_key),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mobile"] == "139****1111" and body["version"] == 2
    assert body["id_number"] == created["id_number"]
    old = client.post("/v1/customers:search", json={"mobile": row["mobile"]}, headers=auth(tenant.api_key))
    assert old.json() == []
    new = client.post("/v1/customers:search", json={"mobile": new_mobile}, headers=auth(tenant.api_key))
    assert [c["id"] for c in new.json()] == [created["id"]]
    stale = client.patch(
        f"/v1/customers/{created['id']}", json={"region": "x", "expected_version": 1}, headers=auth(tenant.api_key)
    )
    assert stale.status_code == 409 and stale.json()["code"] == "customer.version_conflict"


def test_delete_removes_and_shreds(client: TestClient, tenant: TenantHandle) -> None:
    created = create(client, tenant, new_customer())
    assert client.delete(f"/v1/customers/{created['id']}", headers=auth(tenant.api_key)).status_code == 204
    gone = client.get(f"/v1/customers/{created['id']}", headers=auth(tenant.api_key))
    assert gone.status_code == 404 and gone.json()["code"] == "customer.not_found"


def test_reveal_needs_scope_and_reason(client: TestClient, tenant: TenantHandle) -> None:
    row = new_customer()
    created = create(client, tenant, row)
    url = f"/v1/customers/{created['id']}:reveal"
    body = {"fields": ["mobile", "id_number"], "reason": "customer on the line asked"}
    denied = client.post(url, json=body, headers=auth(tenant.api_key))
    assert denied.status_code == 403 and denied.json()["code"] == "access.denied"
    no_reason = client.post(url, json={"fields": ["mobile"], "reason": ""}, headers=auth(tenant.reveal_key))
    assert no_reason.status_code == 422
    shown = client.post(url, json=body, headers=auth(tenant.reveal_key))
    assert shown.status_code == 200, shown.text
    assert shown.json()["fields"] == {"mobile": "+86" + row["mobile"], "id_number": row["id_number"]}


def test_read_only_account_cannot_write(client: TestClient, tenant: TenantHandle) -> None:
    response = client.post("/v1/customers", json=new_customer(), headers=auth(tenant.readonly_key))
    assert response.status_code == 403


def test_other_tenant_sees_not_found_everywhere(client: TestClient, make_tenant) -> None:  # type: ignore[no-untyped-def]
    owner, other = make_tenant(), make_tenant()
    row = new_customer()
    created = create(client, owner, row)
    cid = created["id"]
    key = auth(other.reveal_key)
    assert client.get(f"/v1/customers/{cid}", headers=key).status_code == 404
    assert client.patch(f"/v1/customers/{cid}", json={"region": "x"}, headers=key).status_code == 404
    assert client.delete(f"/v1/customers/{cid}", headers=key).status_code == 404
    reveal = client.post(
        f"/v1/customers/{cid}:reveal", json={"fields": ["mobile"], "reason": "probe it from here"}, headers=key
    )
    assert reveal.status_code == 404
    for criterion in (
        {"mobile": row["mobile"]},
        {"external_ref": row["external_ref"]},
        {"mobile_last4": row["mobile"][-4:]},
    ):
        found = client.post("/v1/customers:search", json=criterion, headers=key).json()
        assert cid not in [c["id"] for c in found]
    assert cid not in [c["id"] for c in client.get("/v1/customers?limit=500", headers=key).json()["items"]]
    # and the owner still can
    assert client.get(f"/v1/customers/{cid}", headers=auth(owner.api_key)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("mobile", "12345", "phone.invalid"),
        ("mobile", "call me maybe", "phone.format"),
        ("mobile", "18200007764x", "phone.format"),
        ("landline", "010-1234567 ext", "phone.format"),
        ("id_number", "110101199003071235", "id_number.checksum"),
        ("id_number", "110101199013071234", "id_number.birth_date"),
        ("bank_card", "6222020000000008", "bank_card.checksum"),
        ("bank_card", "62220200", "bank_card.format"),
        ("email", "no-at-sign", "email.invalid"),
        ("unknown_field", "x", "extra_forbidden"),
    ],
)
def test_bad_input_is_a_422_with_code_and_no_value(
    client: TestClient, tenant: TenantHandle, field: str, value: str, code: str
) -> None:
    response = client.post("/v1/customers", json={field: value}, headers=auth(tenant.api_key))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "request.invalid"
    assert {"field": field, "code": code} == {k: problem["errors"][0][k] for k in ("field", "code")}
    if len(value) >= 6:
        assert value not in response.text


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("post", "/v1/customers", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("post", "/v1/customers", {"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}}),
        ("post", "/v1/customers", {"json": [1, 2, 3]}),
        ("get", "/v1/customers/not-a-uuid", {}),
        ("get", "/v1/customers?limit=0", {}),
        ("get", "/v1/customers?cursor=zzz", {}),
        ("post", "/v1/customers:search", {"json": {}}),
        ("post", "/v1/customers:search", {"json": {"mobile": "13800001111", "email": "a@example.com"}}),
        ("post", "/v1/customers:search", {"json": {"mobile_last4": "12a4"}}),
        ("post", "/v1/customers:import", {"content": b"x", "headers": {"content-type": "text/plain"}}),
    ],
)
def test_malformed_requests_are_4xx_problems(
    client: TestClient, tenant: TenantHandle, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    headers = {**auth(tenant.api_key), **kwargs.pop("headers", {})}
    response = getattr(client, method)(url, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer cvk_0123456789abcdef.wrong", "Basic abc"])
def test_bad_credentials_are_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/customers", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"].startswith("auth.")


def test_external_ref_is_unique_per_tenant(client: TestClient, make_tenant) -> None:  # type: ignore[no-untyped-def]
    first, second = make_tenant(), make_tenant()
    row = new_customer()
    create(client, first, row)
    again = client.post("/v1/customers", json=row, headers=auth(first.api_key))
    assert again.status_code == 409 and again.json()["code"] == "customer.external_ref_exists"
    create(client, second, row)  # another tenant may use the same reference


def test_suspended_tenant_keys_stop_working(client: TestClient, tenant: TenantHandle, runtime) -> None:  # type: ignore[no-untyped-def]
    from callvault.access.identity import service as identity

    with runtime.sessions() as db_session, db_session.begin():
        identity.set_tenant_status(db_session=db_session, tenant_id=tenant.id, status="suspended")
    response = client.get("/v1/customers", headers=auth(tenant.api_key))
    assert response.status_code == 401 and response.json()["code"] == "auth.tenant_suspended"


def test_whoami_goes_through_the_policy_point(client: TestClient, tenant: TenantHandle) -> None:
    response = client.get("/v1/whoami", headers=auth(tenant.readonly_key))
    assert response.status_code == 200
    assert response.json()["tenant_id"] == tenant.id and response.json()["scopes"] == ["customers:read"]


def test_unknown_action_is_denied() -> None:
    from callvault.access.actor import SCOPES, Actor
    from callvault.access.pdp import Resource, authorize

    actor = Actor(tenant_id="t", actor_id="sa:x", kind="service_account", scopes=SCOPES)
    decision = authorize(actor, "customer.export", Resource(type="customer", tenant_id="t"))
    assert not decision.allow and decision.rule == "default.deny"
    other = authorize(actor, "customer.read", Resource(type="customer", tenant_id="u"))
    assert not other.allow and other.rule == "tenant.isolation"
