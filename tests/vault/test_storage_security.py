"""What an attacker with the raw database gets: ciphertext that opens nowhere else."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from callvault.access.actor import Actor
from callvault.core.db import create_db_engine
from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer
from tests.conftest import PG_URL, TenantHandle, auth, raw_database_bytes, remember_pii


def _seed(runtime: Runtime, tenant: TenantHandle, count: int, start: int) -> list[dict[str, Any]]:
    generator = CustomerGenerator(seed=start)
    rows = list(generator.customers(count, start=start))
    for row in rows:
        remember_pii(row)
    report = importer.import_customers(
        runtime=runtime, actor=Actor.operator(tenant.id), lines=generator.jsonl_lines(count, start=start), fmt="jsonl"
    )
    assert report.imported == count and report.failed == 0
    return rows


def test_raw_database_holds_no_plaintext_personal_data(runtime: Runtime, tenant: TenantHandle) -> None:
    rows = _seed(runtime, tenant, 300, start=500_000)
    raw = raw_database_bytes(runtime)
    assert len(raw) > 10_000
    for row in rows:
        for field in ("mobile", "id_number", "bank_card", "email"):
            assert row[field].encode() not in raw, field
        assert ("+86" + row["mobile"]).encode() not in raw
        assert row["name"].encode() not in raw or len(row["name"]) <= 2  # 2-char names collide with words


def _customer_ids(client: TestClient, tenant: TenantHandle) -> list[str]:
    page = client.get("/v1/customers?limit=10", headers=auth(tenant.api_key)).json()
    return [item["id"] for item in page["items"]]


@pytest.mark.parametrize("target", ["other_row", "other_column", "other_tenant"])
def test_moved_ciphertext_fails_to_decrypt(client: TestClient, runtime: Runtime, make_tenant: Any, target: str) -> None:
    source, victim = make_tenant(), make_tenant()
    _seed(runtime, source, 3, start=600_000)
    _seed(runtime, victim, 3, start=600_100)
    src_ids = _customer_ids(client, source)
    dst_tenant = victim if target == "other_tenant" else source
    dst_ids = _customer_ids(client, dst_tenant)
    dst_id = dst_ids[0] if target == "other_tenant" else src_ids[1]
    dst_column = "landline_ct" if target == "other_column" else "mobile_ct"
    if target == "other_column":
        dst_id = src_ids[0]
    owner = create_db_engine(runtime.settings.resolved_migration_url)  # the attacker, as table owner
    with owner.begin() as conn:
        sealed = conn.execute(
            text("SELECT mobile_ct FROM customer WHERE tenant_id = :t AND id = :i"),
            {"t": source.id, "i": _uuid(runtime, src_ids[0])},
        ).scalar_one()
        conn.execute(
            text(f"UPDATE customer SET {dst_column} = :c WHERE tenant_id = :t AND id = :i"),
            {"c": sealed, "t": dst_tenant.id, "i": _uuid(runtime, dst_id)},
        )
    owner.dispose()
    response = client.get(f"/v1/customers/{dst_id}", headers=auth(dst_tenant.api_key))
    assert response.status_code == 422
    assert response.json()["code"] == "crypto.decryption_failed"
    # the untouched record still reads
    untouched = next(i for i in dst_ids if i not in (dst_id, src_ids[0]))
    assert client.get(f"/v1/customers/{untouched}", headers=auth(dst_tenant.api_key)).status_code == 200


def _uuid(runtime: Runtime, value: str) -> Any:
    import uuid

    parsed = uuid.UUID(value)
    return parsed.hex if runtime.engine.dialect.name == "sqlite" else parsed


@pytest.mark.skipif(not PG_URL, reason="row-level security exists only on PostgreSQL")
def test_without_tenant_setting_the_app_role_sees_no_rows(runtime: Runtime, tenant: TenantHandle) -> None:
    _seed(runtime, tenant, 5, start=700_000)
    with runtime.engine.connect() as conn:  # the app engine: SET ROLE callvault_app on connect
        assert conn.execute(text("SELECT current_user")).scalar_one() == runtime.settings.db_app_role
        assert conn.execute(text("SELECT count(*) FROM customer")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM subject_key")).scalar_one() == 0
        conn.execute(text("SELECT set_config('callvault.tenant_id', :t, true)"), {"t": tenant.id})
        assert conn.execute(text("SELECT count(*) FROM customer")).scalar_one() == 5
        assert conn.execute(text("SELECT count(DISTINCT tenant_id) FROM customer")).scalar_one() == 1
        conn.rollback()
        with pytest.raises(Exception, match="row-level security"):
            conn.execute(text("SELECT set_config('callvault.tenant_id', 'someone-else', true)"))
            conn.execute(
                text(
                    "INSERT INTO subject_key (tenant_id, id, kek_version, created_at) "
                    "VALUES (:t, gen_random_uuid(), 1, now())"
                ),
                {"t": tenant.id},
            )
