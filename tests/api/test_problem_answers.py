"""What the contract test (test_openapi_contract.py) made the API answer and declare, each
behaviour pinned on its own: ``Allow`` on every 405, ``Retry-After`` on 429, a stable
code for an undecodable body, ids that cannot swallow a ``:verb``, bounded path text,
and the OpenAPI document naming problem+json and the real media types."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.conftest import TenantHandle, auth

PROBLEM = "application/problem+json"


def _is_problem(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code


def test_405_names_every_method_served_at_the_path(client: TestClient, tenant: TenantHandle) -> None:
    # Starlette's own Allow named only the first matching route ("POST")
    response = client.request("OPTIONS", "/v1/customers", headers=auth(tenant.api_key))
    _is_problem(response, 405, "method.not_allowed")
    assert response.headers["allow"] == "GET, POST"
    response = client.put(f"/v1/customers/{uuid.uuid4()}", headers=auth(tenant.api_key), json={})
    _is_problem(response, 405, "method.not_allowed")
    assert response.headers["allow"] == "GET, PATCH, DELETE"


def test_a_verb_after_an_id_is_not_read_as_part_of_the_id(client: TestClient, tenant: TenantHandle) -> None:
    # `/{id}` used to match "<uuid>:reveal" and answer 422 (bad uuid) to a GET or PATCH
    response = client.get(f"/v1/customers/{uuid.uuid4()}:reveal", headers=auth(tenant.reveal_key))
    _is_problem(response, 405, "method.not_allowed")
    assert response.headers["allow"] == "POST"
    response = client.get("/v1/customers/not-an-id", headers=auth(tenant.api_key))
    _is_problem(response, 422, "request.invalid")  # still the parameter's own validation


def test_429_says_when_to_retry(client: TestClient, tenant: TenantHandle) -> None:
    body = {"tenant": tenant.id, "username": "nobody", "password": "wrong"}
    # 20 a minute per username, in fixed windows: 41 attempts fill one window even if a
    # minute boundary falls between them
    answers = []
    for _ in range(41):
        answers.append(client.post("/v1/auth/login", json=body))
        if answers[-1].status_code != 401:
            break
    _is_problem(answers[-1], 429, "auth.rate_limited")
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60


def test_an_undecodable_body_is_a_400_with_a_stable_code(client: TestClient, tenant: TenantHandle) -> None:
    response = client.post(
        "/v1/users",
        content=b'{"username": "\xff\xfe"}',
        headers={**auth(tenant.api_key), "content-type": "application/json"},
    )
    _is_problem(response, 400, "request.malformed")


def test_path_text_is_bounded(client: TestClient, make_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    response = client.get(f"/v1/audit/subjects/{'x' * 129}/report", headers=auth(tenant.api_key))
    _is_problem(response, 422, "request.invalid")


def test_the_document_declares_problems_and_real_media_types(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert set(document["components"]["schemas"]["Problem"]["required"]) >= {"type", "title", "status", "code"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if path.startswith("/scim/") and status not in ("413", "422", "500"):
                    continue  # SCIM answers its own error documents (besides the app-wide guards)
                if status >= "400":
                    assert PROBLEM in response["content"], (method, path, status)
                    assert "application/json" not in response["content"], (method, path, status)
            if "requestBody" in operation:
                assert "400" in operation["responses"], (method, path)
    export = document["paths"]["/v1/audit/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/x-ndjson", "text/plain"}
    assert "text/csv" in document["paths"]["/v1/customers:import"]["post"]["requestBody"]["content"]
    scim_ok = document["paths"]["/scim/v2/Users"]["get"]["responses"]["200"]["content"]
    assert set(scim_ok) == {"application/scim+json"}


def test_offsets_past_32_bits_are_422_not_500(client: TestClient, make_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    for url in ("/v1/users", "/v1/approvals"):
        response = client.get(f"{url}?offset={2**31}", headers=auth(tenant.api_key))
        _is_problem(response, 422, "request.invalid")
        assert response.json()["errors"][0]["field"] == "offset"


def test_approval_verbs_are_not_read_as_ids(client: TestClient, tenant: TenantHandle) -> None:
    response = client.get(f"/v1/approvals/{uuid.uuid4()}:approve", headers=auth(tenant.api_key))
    _is_problem(response, 405, "method.not_allowed")
    assert response.headers["allow"] == "POST"


def test_key_patterns_close_the_object_in_the_document(client: TestClient) -> None:
    masks = client.get("/openapi.json").json()["components"]["schemas"]["PolicyOverride"]["properties"]["masks"]
    assert masks["patternProperties"] and masks["additionalProperties"] is False
