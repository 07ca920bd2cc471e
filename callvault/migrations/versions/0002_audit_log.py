"""audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

The log is append-only: triggers refuse UPDATE and DELETE on every audit table (SQLite and
PostgreSQL), and on PostgreSQL the application role gets only SELECT and INSERT.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

AUDIT_TABLES = ("audit_event", "audit_node", "audit_tree_head")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION callvault_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit log is append-only' USING ERRCODE = 'insufficient_privilege'; END $$"
        )
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_role", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=128), nullable=True),
        sa.Column("subject_id", sa.String(length=128), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("mask", sa.String(length=16), nullable=True),
        sa.Column("rule", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_tenant_action", ["tenant_id", "action", "seq"], unique=False)
        batch_op.create_index("ix_audit_event_tenant_actor", ["tenant_id", "actor_id", "seq"], unique=False)
        batch_op.create_index("ix_audit_event_tenant_seq", ["tenant_id", "seq"], unique=False)
        batch_op.create_index("ix_audit_event_tenant_subject", ["tenant_id", "subject_id", "seq"], unique=False)
        batch_op.create_index("ix_audit_event_tenant_time", ["tenant_id", "time"], unique=False)

    op.create_table(
        "audit_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_audit_node")),
    )
    op.create_table(
        "audit_tree_head",
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_tree_head")),
    )

    _append_only()


def _append_only() -> None:
    dialect = op.get_bind().dialect.name
    for table in AUDIT_TABLES:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
                )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION callvault_refuse_change()"
            )
    if dialect == "postgresql":
        app_role = context.config.attributes.get("app_role")
        if app_role:
            op.execute(f'GRANT SELECT, INSERT ON {", ".join(AUDIT_TABLES)} TO "{app_role}"')
            op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON {", ".join(AUDIT_TABLES)} FROM "{app_role}"')


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in AUDIT_TABLES:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_table("audit_tree_head")
    op.drop_table("audit_node")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_tenant_time")
        batch_op.drop_index("ix_audit_event_tenant_subject")
        batch_op.drop_index("ix_audit_event_tenant_seq")
        batch_op.drop_index("ix_audit_event_tenant_actor")
        batch_op.drop_index("ix_audit_event_tenant_action")

    op.drop_table("audit_event")
