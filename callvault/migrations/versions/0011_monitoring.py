"""monitoring: anomaly rules, alerts, incidents and their timelines (issue 15)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

Every table holds ``tenant_id`` first and gets the tenant policy. The detection engine
writes alerts in the tenant's scope of each event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("monitoring_rule", "monitoring_alert", "monitoring_incident", "monitoring_incident_event")


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=f"fk_{table}_tenant_id_tenant")


def upgrade() -> None:
    op.create_table(
        "monitoring_rule",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant("monitoring_rule"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_monitoring_rule"),
    )
    op.create_table(
        "monitoring_alert",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("response_taken", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("alert_seq", sa.Integer(), nullable=True),
        _tenant("monitoring_alert"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_monitoring_alert"),
    )
    op.create_index("ix_monitoring_alert_status", "monitoring_alert", ["tenant_id", "status", "created_at"])
    op.create_index("ix_monitoring_alert_actor", "monitoring_alert", ["tenant_id", "actor_id", "created_at"])
    op.create_index("ix_monitoring_alert_dedup", "monitoring_alert", ["tenant_id", "dedup_key"], unique=True)
    op.create_table(
        "monitoring_incident",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("grade_basis", sa.JSON(), nullable=False),
        sa.Column("actor_ids", sa.JSON(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("data_types", sa.JSON(), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authority_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pipl_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authority_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subjects_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("personal_data_breach", sa.Boolean(), nullable=False),
        _tenant("monitoring_incident"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_monitoring_incident"),
    )
    op.create_index("ix_monitoring_incident_status", "monitoring_incident", ["tenant_id", "status", "opened_at"])
    op.create_table(
        "monitoring_incident_event",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=True),
        _tenant("monitoring_incident_event"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["monitoring_incident.tenant_id", "monitoring_incident.id"],
            name="fk_monitoring_incident_event_incident",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_monitoring_incident_event"),
    )
    op.create_index(
        "ix_monitoring_incident_event_incident", "monitoring_incident_event", ["tenant_id", "incident_id", "at"]
    )

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_policy_sql(table):
            op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(TABLES)} TO "{app_role}"')


def downgrade() -> None:
    op.drop_index("ix_monitoring_incident_event_incident", table_name="monitoring_incident_event")
    op.drop_table("monitoring_incident_event")
    op.drop_index("ix_monitoring_incident_status", table_name="monitoring_incident")
    op.drop_table("monitoring_incident")
    op.drop_index("ix_monitoring_alert_dedup", table_name="monitoring_alert")
    op.drop_index("ix_monitoring_alert_actor", table_name="monitoring_alert")
    op.drop_index("ix_monitoring_alert_status", table_name="monitoring_alert")
    op.drop_table("monitoring_alert")
    op.drop_table("monitoring_rule")
