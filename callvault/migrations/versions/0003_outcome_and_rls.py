"""audit outcome; row-level security on every tenant table

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

``audit_event.outcome`` records what happened beside what was decided; ``purpose`` widens
to hold a reason sealed under the subject's data key.

Every table with a ``tenant_id`` column gets the same row-level security policy
(``tenant_policy_sql``): rows of the transaction's tenant (``callvault.tenant_id``), or
every row for the cross-tenant system paths (``callvault.scope = 'system'``: the audit
writer, verification, sweeps). Credential tables add one more door: the single row whose
key id the transaction names in ``callvault.key_id`` (authentication, before the tenant is
known). Later migrations call ``tenant_policy_sql`` for their own tables; a test walks the
metadata and fails on a tenant table without a policy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite does not enforce varchar lengths
    op.alter_column("audit_event", "purpose", type_=sa.String(length=1024), existing_nullable=True)
    statements = [
        *tenant_policy_sql("customer"),
        *tenant_policy_sql("subject_key"),
        *tenant_policy_sql("service_account", key_column="key_id"),
        *tenant_policy_sql("audit_event"),
    ]
    for statement in statements:
        op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT ON audit_event TO "{app_role}"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON audit_event")
        op.execute("ALTER TABLE audit_event DISABLE ROW LEVEL SECURITY")
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON service_account")
        op.execute("ALTER TABLE service_account DISABLE ROW LEVEL SECURITY")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("outcome")
