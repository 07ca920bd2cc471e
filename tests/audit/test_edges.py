"""Bad input at the audit edges is a 4xx, never a 500 or an empty 200 (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from callvault.access.identity import service as identity
from callvault.core.runtime import Runtime
from tests.conftest import TenantHandle, auth
from tests.vault.customers.test_api import create, new_customer

TOO_BIG = str(2**64 + 1)


@pytest.fixture
def auditor_key(runtime: Runtime, tenant: TenantHandle) -> str:
    with runtime.sessions() as db_session, db_session.begin():
        _, key = identity.create_service_account(
            db_session=db_session, tenant_id=tenant.id, name="auditor", scopes=["audit:read"]
        )
    return key


@pytest.mark.parametrize(
    "since", ["2026-11-01", "2026-11-01T00:00:00", "2026-11-01 00:00", "2026-11-01T08:00:00+08:00"]
)
def test_dates_and_naive_times_are_utc(client: TestClient, tenant: TenantHandle, auditor_key: str, since: str) -> None:
    create(client, tenant, new_customer())
    events = client.get("/v1/audit/events", params={"since": since}, headers=auth(auditor_key))
    assert events.status_code == 200, events.text
    assert any(item["action"] == "customer.create" for item in events.json()["items"])
    export = client.get("/v1/audit/export", params={"since": since}, headers=auth(auditor_key))
    assert export.status_code == 200
    assert "customer.create" in export.text, "an export must never be an empty 200"


def test_a_date_after_every_event_finds_nothing(client: TestClient, tenant: TenantHandle, auditor_key: str) -> None:
    create(client, tenant, new_customer())
    events = client.get("/v1/audit/events", params={"since": "2999-01-01"}, headers=auth(auditor_key))
    assert events.status_code == 200 and events.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"until": "0.5"}, "until"),
        ({"since": "1700000000"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "２０２６-11-01"}, "since"),
        ({"since": "2026-13-01"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"after_seq": TOO_BIG}, "after_seq"),
        ({"after_seq": "-1"}, "after_seq"),
    ],
)
def test_bad_query_values_are_422(client: TestClient, auditor_key: str, params: dict[str, str], field: str) -> None:
    response = client.get("/v1/audit/events", params=params, headers=auth(auditor_key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field
    if "since" in params:
        export = client.get("/v1/audit/export", params=params, headers=auth(auditor_key))
        assert export.status_code == 422, export.text


@pytest.mark.parametrize(
    "url",
    [
        f"/v1/audit/events/{TOO_BIG}/proof",
        "/v1/audit/events/0/proof",
        f"/v1/audit/tree-heads/consistency?first=1&second={TOO_BIG}",
        f"/v1/audit/tree-heads/consistency?first={TOO_BIG}&second=1",
    ],
)
def test_integers_past_64_bits_are_422(client: TestClient, auditor_key: str, url: str) -> None:
    response = client.get(url, headers=auth(auditor_key))
    assert response.status_code == 422, response.text


def test_proof_checks_the_scope_before_anything(client: TestClient, tenant: TenantHandle) -> None:
    """A key without audit:read learns nothing: not whether an event exists, not an error."""
    create(client, tenant, new_customer())
    for seq in ("1", "999999999", str(2**63 - 1)):
        response = client.get(f"/v1/audit/events/{seq}/proof", headers=auth(tenant.api_key))
        assert response.status_code == 403, response.text


def test_cli_export_since_a_date(
    runtime: Runtime, tenant: TenantHandle, cli_env: dict[str, str], client: TestClient
) -> None:
    create(client, tenant, new_customer())

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault.cli", "audit", *args],
            env={**os.environ, **cli_env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = cli("export", "--format", "ocsf", "--since", "2026-11-01", "--tenant", tenant.id)
    assert ok.returncode == 0, ok.stderr
    assert "customer.create" in ok.stdout and "Traceback" not in ok.stderr
    events = cli("events", "--tenant", tenant.id, "--since", "2026-11-01T00:00:00", "--until", "2999-01-01")
    assert events.returncode == 0, events.stderr
    assert "customer.create" in events.stdout
    bad = cli("export", "--since", "0.5")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
