"""approvals: N-of-M requests, votes, tenant webhooks and their delivery outbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Every table holds ``tenant_id`` and gets the tenant policy. The approvals worker reads
the outbox across tenants in system scope, as the other sweeps do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("approval", "approval_vote", "webhook", "webhook_delivery")


def upgrade() -> None:
    op.create_table(
        "approval",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("requester_id", sa.String(length=100), nullable=False),
        sa.Column("requester_kind", sa.String(length=16), nullable=False),
        sa.Column("required", sa.Integer(), nullable=False),
        sa.Column("approver_roles", sa.String(length=300), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("justification_ct", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("grant_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_approval_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_approval"),
    )
    op.create_index("ix_approval_requester", "approval", ["tenant_id", "requester_id", "kind", "status"])
    op.create_index("ix_approval_status", "approval", ["tenant_id", "status", "expires_at"])
    op.create_index("ix_approval_due", "approval", ["status", "expires_at"])

    op.create_table(
        "approval_vote",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("approval_id", sa.Uuid(), nullable=False),
        sa.Column("approver_id", sa.String(length=100), nullable=False),
        sa.Column("approver_role", sa.String(length=32), nullable=False),
        sa.Column("approve", sa.Boolean(), nullable=False),
        sa.Column("comment_ct", sa.LargeBinary(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "approval_id"],
            ["approval.tenant_id", "approval.id"],
            name="fk_approval_vote_tenant_id_approval",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_approval_vote"),
    )
    op.create_index(
        "ix_approval_vote_approver", "approval_vote", ["tenant_id", "approval_id", "approver_id"], unique=True
    )

    op.create_table(
        "webhook",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("secret_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_webhook_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook"),
    )
    op.create_index("ix_webhook_tenant", "webhook", ["tenant_id", "deleted_at"])

    op.create_table(
        "webhook_delivery",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "webhook_id"],
            ["webhook.tenant_id", "webhook.id"],
            name="fk_webhook_delivery_tenant_id_webhook",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_delivery"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_delivery_webhook", "webhook_delivery", ["tenant_id", "webhook_id", "created_at"])

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_policy_sql(table):
            op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE ON {", ".join(TABLES)} TO "{app_role}"')


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_webhook", table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_due", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_index("ix_webhook_tenant", table_name="webhook")
    op.drop_table("webhook")
    op.drop_index("ix_approval_vote_approver", table_name="approval_vote")
    op.drop_table("approval_vote")
    op.drop_index("ix_approval_due", table_name="approval")
    op.drop_index("ix_approval_status", table_name="approval")
    op.drop_index("ix_approval_requester", table_name="approval")
    op.drop_table("approval")
