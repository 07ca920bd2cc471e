"""exports: export requests and their files (issue 14)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

Reserved in the chain so that capabilities built side by side never fork it; the
capability's tables are created here: ``export_request`` (one export, its approval, its
encrypted files and download counts; kept after the file is deleted, for leak tracing)
and ``export_settings`` (a tenant's approval chain and delivery limits). Both hold
``tenant_id`` first and get the tenant policy; the deletion sweep reads across tenants in
system scope, as the other sweeps do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("export_request", "export_settings")


def upgrade() -> None:
    op.create_table(
        "export_request",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.String(length=100), nullable=False),
        sa.Column("requester_username", sa.String(length=128), nullable=False),
        sa.Column("requester_role", sa.String(length=32), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("unmasked_fields", sa.JSON(), nullable=False),
        sa.Column("estimated_rows", sa.Integer(), nullable=False),
        sa.Column("max_rows", sa.Integer(), nullable=True),
        sa.Column("levels", sa.String(length=200), nullable=False),
        sa.Column("approval_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress_rows", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("skipped_rows", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=False),
        sa.Column("csv_downloads", sa.Integer(), nullable=False),
        sa.Column("xlsx_downloads", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_hours", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_export_request_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_export_request"),
    )
    op.create_index("ix_export_request_requester", "export_request", ["tenant_id", "requester_id", "created_at"])
    op.create_index("ix_export_request_status", "export_request", ["tenant_id", "status"])
    op.create_index("ix_export_request_due", "export_request", ["status", "expires_at"])

    op.create_table(
        "export_settings",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("levels", sa.String(length=200), nullable=False),
        sa.Column("extra_level", sa.String(length=32), nullable=False),
        sa.Column("rows_threshold", sa.Integer(), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=False),
        sa.Column("file_hours", sa.Integer(), nullable=False),
        sa.Column("request_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_export_settings_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_export_settings"),
    )

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_policy_sql(table):
            op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE ON {", ".join(TABLES)} TO "{app_role}"')


def downgrade() -> None:
    op.drop_table("export_settings")
    op.drop_index("ix_export_request_due", table_name="export_request")
    op.drop_index("ix_export_request_status", table_name="export_request")
    op.drop_index("ix_export_request_requester", table_name="export_request")
    op.drop_table("export_request")
