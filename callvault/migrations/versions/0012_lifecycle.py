"""lifecycle: consent ledger, data schema, retention, legal hold, sweeps, erasure ledger, DSAR (issue 16)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

Every table holds ``tenant_id`` first and gets the tenant policy. The retention sweeper
deletes expired call metadata, so the application role also gets DELETE on ``live_call``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = (
    "consent",
    "data_schema",
    "retention_policy",
    "legal_hold",
    "sweep_run",
    "erasure_ledger",
    "key_epoch",
    "dsar_request",
)


def _tenant(table: str) -> tuple[sa.Column[str], sa.ForeignKeyConstraint]:
    return (
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=f"fk_{table}_tenant_id_tenant"),
    )


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "consent",
        *_tenant("consent"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("notice_hash", sa.String(length=64), nullable=False),
        sa.Column("notice_version", sa.String(length=32), nullable=False),
        sa.Column("evidence_ref", sa.String(length=128), nullable=True),
        sa.Column("evidence_hash", sa.String(length=64), nullable=True),
        _time("recorded_at"),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        _time("evidence_until", True),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_consent"),
    )
    op.create_index("ix_consent_subject", "consent", ["tenant_id", "subject_id", "purpose", "partner", "recorded_at"])
    op.create_index("ix_consent_evidence", "consent", ["tenant_id", "evidence_until"])

    op.create_table(
        "data_schema",
        *_tenant("data_schema"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_data_schema"),
    )

    op.create_table(
        "retention_policy",
        *_tenant("retention_policy"),
        sa.Column("data_class", sa.String(length=32), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        _time("updated_at"),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "data_class", name="pk_retention_policy"),
    )

    op.create_table(
        "legal_hold",
        *_tenant("legal_hold"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("case_ref", sa.String(length=64), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _time("released_at", True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_legal_hold"),
    )
    op.create_index("ix_legal_hold_active", "legal_hold", ["tenant_id", "released_at", "subject_id"])

    op.create_table(
        "sweep_run",
        *_tenant("sweep_run"),
        sa.Column("id", sa.Uuid(), nullable=False),
        _time("as_of"),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        _time("started_at"),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        _time("finished_at", True),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_sweep_run"),
    )
    op.create_index("ix_sweep_run_status", "sweep_run", ["tenant_id", "status"])

    op.create_table(
        "erasure_ledger",
        *_tenant("erasure_ledger"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        _time("erased_at"),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("replayed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_erasure_ledger"),
    )
    op.create_index("ix_erasure_ledger_subject", "erasure_ledger", ["tenant_id", "subject_hash"])

    op.create_table(
        "key_epoch",
        *_tenant("key_epoch"),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("rotated_at"),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_key_epoch"),
    )

    op.create_table(
        "dsar_request",
        *_tenant("dsar_request"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("regime", sa.String(length=8), nullable=False),
        _time("received_at"),
        _time("due_at"),
        _time("completed_at", True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_dsar_request"),
    )
    op.create_index("ix_dsar_due", "dsar_request", ["tenant_id", "completed_at", "due_at"])

    # erasure deletes a subject's calls, the sweeper deletes calls by end time: both need an index
    op.create_index("ix_live_call_customer", "live_call", ["tenant_id", "customer_id"])
    op.create_index("ix_live_call_ended", "live_call", ["tenant_id", "ended_at"])

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_policy_sql(table):
            op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(TABLES)} TO "{app_role}"')
        op.execute(f'GRANT DELETE ON live_call TO "{app_role}"')  # the sweeper ends call metadata


def downgrade() -> None:
    op.drop_index("ix_live_call_ended", table_name="live_call")
    op.drop_index("ix_live_call_customer", table_name="live_call")
    op.drop_index("ix_dsar_due", table_name="dsar_request")
    op.drop_table("dsar_request")
    op.drop_table("key_epoch")
    op.drop_index("ix_erasure_ledger_subject", table_name="erasure_ledger")
    op.drop_table("erasure_ledger")
    op.drop_index("ix_sweep_run_status", table_name="sweep_run")
    op.drop_table("sweep_run")
    op.drop_index("ix_legal_hold_active", table_name="legal_hold")
    op.drop_table("legal_hold")
    op.drop_table("retention_policy")
    op.drop_table("data_schema")
    op.drop_index("ix_consent_evidence", table_name="consent")
    op.drop_index("ix_consent_subject", table_name="consent")
    op.drop_table("consent")
