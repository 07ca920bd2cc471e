"""Row-level security covers every tenant table, and holds against the app role itself."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

import callvault.models as models
from callvault.core.runtime import Runtime
from tests.conftest import PG_URL, TenantHandle, auth

pytestmark = pytest.mark.skipif(not PG_URL, reason="row-level security exists only on PostgreSQL")


def _tenant_tables() -> list[str]:
    return sorted(name for name, table in models.Base.metadata.tables.items() if "tenant_id" in table.c)


def test_every_table_with_a_tenant_id_has_a_tenant_policy(runtime: Runtime) -> None:
    tables = _tenant_tables()
    assert {"customer", "subject_key", "service_account", "audit_event"} <= set(tables)
    with runtime.engine.connect() as conn:
        for table in tables:
            enabled = conn.execute(
                text("SELECT relrowsecurity FROM pg_class WHERE relname = :t"), {"t": table}
            ).scalar()
            policies = (
                conn.execute(
                    text("SELECT qual FROM pg_policies WHERE tablename = :t AND policyname = 'tenant_isolation'"),
                    {"t": table},
                )
                .scalars()
                .all()
            )
            assert enabled, f"{table}: row-level security is off"
            assert policies and "callvault.tenant_id" in policies[0], f"{table}: no tenant policy"


def test_tenant_setting_hides_and_protects_other_tenants_rows(
    client: TestClient, runtime: Runtime, make_tenant
) -> None:  # type: ignore[no-untyped-def]
    a: TenantHandle = make_tenant()
    b: TenantHandle = make_tenant()
    # some audit events for both tenants
    for handle in (a, b):
        assert client.get("/v1/customers", headers=auth(handle.api_key)).status_code == 200
    with runtime.engine.connect() as conn, conn.begin():
        assert conn.execute(text("SELECT current_user")).scalar_one() == runtime.settings.db_app_role
        conn.execute(text("SELECT set_config('callvault.tenant_id', :t, true)"), {"t": a.id})
        for table in _tenant_tables():
            other = conn.execute(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": b.id}).scalar()
            assert other == 0, f"{table}: tenant {a.id} sees rows of {b.id}"
        own = conn.execute(text("SELECT count(*) FROM service_account WHERE tenant_id = :t"), {"t": a.id}).scalar()
        assert own == 3
        own_events = conn.execute(text("SELECT count(*) FROM audit_event WHERE tenant_id = :t"), {"t": a.id}).scalar()
        assert own_events >= 1
        changed = conn.execute(
            text("UPDATE service_account SET scopes = '[\"customers:reveal\"]' WHERE tenant_id = :t"), {"t": b.id}
        ).rowcount
        assert changed == 0
    # and b's keys still work with their own scopes
    assert client.get("/v1/customers", headers=auth(b.readonly_key)).status_code == 200


def test_key_lookup_sees_only_the_named_credential(runtime: Runtime, make_tenant) -> None:  # type: ignore[no-untyped-def]
    a: TenantHandle = make_tenant()
    key_id = a.api_key.removeprefix("cvk_").split(".")[0]
    with runtime.engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('callvault.key_id', :k, true)"), {"k": key_id})
        rows = conn.execute(text("SELECT key_id FROM service_account")).scalars().all()
        assert rows == [key_id]
