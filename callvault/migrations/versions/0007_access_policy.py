"""access policy: tenant policy versions, live calls, time-bound grants

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("tenant_policy", "live_call", "access_grant")


def upgrade() -> None:
    op.create_table(
        "tenant_policy",
        sa.Column(
            "tenant_id",
            sa.String(length=63),
            sa.ForeignKey("tenant.id", name="fk_tenant_policy_tenant_id_tenant"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_tenant_policy"),
    )
    op.create_table(
        "live_call",
        sa.Column(
            "tenant_id",
            sa.String(length=63),
            sa.ForeignKey("tenant.id", name="fk_live_call_tenant_id_tenant"),
            nullable=False,
        ),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("agent", sa.String(length=150), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_live_call"),
    )
    op.create_index(
        "ix_live_call_tenant_agent_customer", "live_call", ["tenant_id", "agent", "customer_id", "ended_at"]
    )
    op.create_table(
        "access_grant",
        sa.Column(
            "tenant_id",
            sa.String(length=63),
            sa.ForeignKey("tenant.id", name="fk_access_grant_tenant_id_tenant"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_access_grant"),
    )
    op.create_index("ix_access_grant_tenant_user", "access_grant", ["tenant_id", "user_id", "valid_until"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_policy_sql(table):
            op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT ON tenant_policy TO "{app_role}"')  # versions are only added
        op.execute(f'GRANT SELECT, INSERT, UPDATE ON live_call, access_grant TO "{app_role}"')


def downgrade() -> None:
    op.drop_index("ix_access_grant_tenant_user", table_name="access_grant")
    op.drop_table("access_grant")
    op.drop_index("ix_live_call_tenant_agent_customer", table_name="live_call")
    op.drop_table("live_call")
    op.drop_table("tenant_policy")
