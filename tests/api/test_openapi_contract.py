"""The OpenAPI document describes what the API really answers: schemathesis generates
requests from ``/openapi.json`` (valid and invalid), sends them through the real app to the
real database, and runs every built-in check on each answer (no 5xx, status codes,
content types and headers documented, response bodies matching their schemas, invalid
input rejected, valid input accepted, authentication enforced).

Requests carry real credentials of a test tenant (an API key holding every scope; the
tenant's SCIM token on ``/scim/``), so operations are exercised past authentication.
The run is derandomized: CI generates the same cases every time.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic_core.core_schema import ErrorType
from schemathesis.specs.openapi.checks import positive_data_acceptance

from callvault.access.actor import SCOPES
from callvault.access.identity import scim
from callvault.access.identity import service as identity
from callvault.api.app import create_app
from callvault.core.runtime import Runtime
from tests.conftest import TenantHandle, auth
from tests.vault.customers.test_api import create, new_customer

MAX_EXAMPLES = 10
"""Fuzzed cases per operation, besides the explicit examples and the coverage phase."""


@pytest.fixture
def contract_tenant(runtime: Runtime, make_tenant: Any, client: TestClient) -> dict[str, str]:
    """A fresh tenant: an API key with every scope, its SCIM token, and one stored customer
    and one user, whose ids replace generated ones in valid requests (so reads, updates,
    reveals and deletes answer with real bodies, checked against their schemas)."""
    tenant: TenantHandle = make_tenant()
    with runtime.sessions() as db_session, db_session.begin():
        _, all_scopes = identity.create_service_account(
            db_session=db_session, tenant_id=tenant.id, name="contract", scopes=sorted(SCOPES)
        )
        _, scim_token = scim.create_token(db_session=db_session, tenant_id=tenant.id, name="contract-idp")
    customer = create(client, TenantHandle(tenant.id, all_scopes, all_scopes, all_scopes), new_customer())
    user = client.post("/v1/users", json={"username": "contract.agent", "role": "agent"}, headers=auth(all_scopes))
    assert user.status_code == 201, user.text
    return {"api": all_scopes, "scim": scim_token, "customer_id": customer["id"], "user_id": user.json()["id"]}


# The app under test, built at collection time so pytest lists one test per operation (and
# xdist spreads them): the document depends on code only. ``app_under_test`` attaches the
# session's runtime (database, keyring) before any request is sent.
APP = create_app(None)  # type: ignore[arg-type]
# Credentials exist only once the database does (fixtures), after the cases are built at
# collection time: so schemathesis does not generate the security header itself, the test
# sends a real one, and the `ignored_auth` check probes each operation without it and
# with a forged one (expecting 401).
# NUL is refused in every string of every request (422 `request.nul_byte`, stated in the
# document's description and pinned by tests/api/test_hardening.py): a rule of the whole
# API that a per-field schema would repeat on every string, so it is not generated here.
CONFIG = schemathesis.Config.from_dict(
    {"seed": 20261126, "generation": {"with-security-parameters": False, "allow-x00": False}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture
def app_under_test(runtime: Runtime) -> Any:
    APP.state.runtime = runtime
    return APP


# -- rules a JSON Schema cannot state ------------------------------------------------------
# These operations also check what no schema keyword expresses: checksums (MOD 11-2 ID
# numbers, Luhn cards), numbering plans, "exactly one criterion", a time range's order,
# password strength, the tenant policy's minimum reason length, tenant-defined entity types,
# CSV headers, SCIM filter grammar and case-insensitive attribute names. A schema-valid
# request may fail those rules, so `positive_data_acceptance` is replaced for them (and only
# them) by the stricter `rules_beyond_the_schema`: the rejection must be a 400/422 naming
# such a rule, never a built-in validation error (the document would miss a constraint).
RULES_BEYOND_THE_SCHEMA = {
    "POST /v1/customers": "field validators: phone numbering, ID and card checksums, e-mail; one identifier",
    "PATCH /v1/customers/{customer_id}": "the same field validators",
    "POST /v1/customers:search": "the same field validators; exactly one criterion",
    "POST /v1/customers:import": "CSV / JSON-lines content: header and row validators",
    "POST /v1/customers/{customer_id}:reveal": "the tenant policy's minimum reason length",
    "GET /v1/audit/events": "`until` not before `since`",
    "GET /v1/audit/tree-heads/consistency": "`first` <= `second`",
    "POST /v1/pii/scan": "entity types include the tenant's own recognizers",
    "POST /v1/pii/redact": "entity types include the tenant's own recognizers",
    "POST /v1/users": "password strength",
    "POST /v1/users/{user_id}/password": "password strength",
    "POST /v1/approvals": "approval targets name ids, not personal data",
    "POST /v1/webhooks": "webhook URL: http(s), a host, no credentials",
    "POST /v1/exports:trace": "the body must be a CSV, XLSX or text file (400 export.trace_format)",
    "PUT /v1/exports/settings": "approval levels are distinct roles, the extra level none of them",
    "POST /v1/grants": "`valid_until` after `valid_from`, at most 90 days later",
    "GET /scim/v2/Users": "SCIM filter grammar",
    "POST /scim/v2/Users": "SCIM attribute values (RFC 7643)",
    "PUT /scim/v2/Users/{user_id}": "SCIM attribute values (RFC 7643)",
    "PATCH /scim/v2/Users/{user_id}": "SCIM PatchOp values and paths (RFC 7644 §3.5.2)",
}
SCHEMA_LEVEL_CODES = frozenset(get_args(ErrorType)) - {"value_error", "assertion_error"}
"""Pydantic's own error types, each matching a schema keyword: a schema-valid request must
never be rejected with one. ``value_error``/``assertion_error`` come from custom validators."""
_SCIM_RULES = frozenset({"invalidFilter", "invalidValue", "uniqueness", "mutability", "noTarget", "invalidPath"})


def rules_beyond_the_schema(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """`positive_data_acceptance`, except for a 400/422 citing a rule a schema cannot state."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status < 400 or status in (401, 403, 404, 409, 429) or status >= 500:
        return  # the answers positive_data_acceptance accepts too
    body = json.loads(response.content or b"{}")
    if "scimType" in body:
        cited = [body["scimType"]]
        beyond = set(cited) <= _SCIM_RULES
    else:
        cited = [error["code"] for error in body.get("errors") or []] or [body.get("code")]
        beyond = bool(cited) and not any(code in SCHEMA_LEVEL_CODES or code is None for code in cited)
    assert status in (400, 422) and beyond, (
        f"Schema-valid request rejected with {status} {cited}: the document should state this constraint"
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_documented(
    case: schemathesis.Case, app_under_test: Any, contract_tenant: dict[str, str]
) -> None:
    key = contract_tenant["scim"] if case.path.startswith("/scim/") else contract_tenant["api"]
    if case.meta is not None and case.meta.generation.mode.is_positive:
        for name in ("customer_id", "user_id"):
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = contract_tenant[name]
    replaced = f"{case.method.upper()} {case.path}" in RULES_BEYOND_THE_SCHEMA
    case.call_and_validate(
        headers={"Authorization": f"Bearer {key}"},
        excluded_checks=[positive_data_acceptance] if replaced else None,
        additional_checks=[rules_beyond_the_schema] if replaced else None,
    )
