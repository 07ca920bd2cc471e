"""A reference that occurs twice in one import is a bad row; one stored before is a re-run."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from callvault.access.actor import Actor
from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers.importer import import_customers
from callvault.vault.customers.schemas import ImportReport
from tests.conftest import TenantHandle, auth, remember_pii


def _post(client: TestClient, tenant: TenantHandle, lines: list[str], **params: str) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/v1/customers:import",
        content=("\n".join(lines) + "\n").encode(),
        params=params,
        headers={**auth(tenant.api_key), "content-type": "application/x-ndjson"},
    )
    assert response.status_code in (200, 422), response.text
    return response.json()  # type: ignore[no-any-return]


def test_duplicates_in_a_file_are_bad_rows_and_a_rerun_skips(
    client: TestClient, runtime: Runtime, tenant: TenantHandle
) -> None:
    rows = list(CustomerGenerator(seed=21).customers(6, start=7_100_000))
    remember_pii(*rows)
    twin = {**rows[4], "external_ref": rows[1]["external_ref"]}  # another person under a taken reference
    lines = [json.dumps(row) for row in rows[:4]] + [json.dumps(twin), json.dumps(rows[5]), json.dumps(rows[0])]

    def run() -> ImportReport:  # batches of 2: line 5 repeats a reference of an earlier batch, line 7 too
        return import_customers(
            runtime=runtime, actor=Actor.operator(tenant.id), lines=[f"{line}\n".encode() for line in lines],
            fmt="jsonl", batch_size=2,
        )  # fmt: skip

    first = run()
    assert (first.imported, first.skipped_existing, first.failed) == (5, 0, 2), first
    assert [(e.line, e.field, e.code) for e in first.errors] == [
        (5, "external_ref", "import.duplicate_external_ref"),
        (7, "external_ref", "import.duplicate_external_ref"),
    ]
    again = run()
    assert (again.imported, again.skipped_existing, again.failed) == (0, 7, 0), again
    found = client.post("/v1/customers:search", json={"mobile": rows[4]["mobile"]}, headers=auth(tenant.api_key))
    assert found.json() == [], "the duplicate line was not stored"


def test_a_duplicate_in_one_batch_is_a_bad_row(client: TestClient, tenant: TenantHandle) -> None:
    rows = list(CustomerGenerator(seed=22).customers(3, start=7_200_000))
    remember_pii(*rows)
    lines = [json.dumps(rows[0]), json.dumps({**rows[1], "external_ref": rows[0]["external_ref"]}), json.dumps(rows[2])]
    report = _post(client, tenant, lines)
    assert (report["imported"], report["failed"]) == (2, 1)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(2, "import.duplicate_external_ref")]


def test_a_strict_import_with_a_duplicate_imports_nothing(client: TestClient, tenant: TenantHandle) -> None:
    rows = list(CustomerGenerator(seed=23).customers(3, start=7_300_000))
    remember_pii(*rows)
    lines = [json.dumps(rows[0]), json.dumps(rows[1]), json.dumps({**rows[2], "external_ref": rows[0]["external_ref"]})]
    rejected = _post(client, tenant, lines, strict="true")
    assert rejected["code"] == "import.rejected", rejected
    assert [(e["line"], e["code"]) for e in rejected["errors"]] == [(3, "import.duplicate_external_ref")]
    found = client.post("/v1/customers:search", json={"mobile": rows[0]["mobile"]}, headers=auth(tenant.api_key))
    assert found.json() == []
