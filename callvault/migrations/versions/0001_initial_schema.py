"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25

On PostgreSQL: row-level security by tenant on tenant data, and grants for the
application role (``app_role``), which owns nothing and so cannot bypass the policies.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

TENANT_TABLES = ("customer", "subject_key")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_key_id", sa.Uuid(), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=True),
        sa.Column("mobile_ct", sa.LargeBinary(), nullable=True),
        sa.Column("landline_ct", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_ct", sa.LargeBinary(), nullable=True),
        sa.Column("bank_card_ct", sa.LargeBinary(), nullable=True),
        sa.Column("email_ct", sa.LargeBinary(), nullable=True),
        sa.Column("address_ct", sa.LargeBinary(), nullable=True),
        sa.Column("mobile_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("mobile_last4_bidx", sa.LargeBinary(length=8), nullable=True),
        sa.Column("id_number_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("email_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("membership_level", sa.String(length=32), nullable=True),
        sa.Column("assigned_agent", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("external_ref", sa.String(length=128), nullable=True),
        sa.Column("retention_class", sa.String(length=32), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_customer")),
        sa.UniqueConstraint("tenant_id", "external_ref", name=op.f("uq_customer_tenant_id_external_ref")),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_agent", ["tenant_id", "assigned_agent"], unique=False)
        batch_op.create_index("ix_customer_email", ["tenant_id", "email_bidx"], unique=False)
        batch_op.create_index("ix_customer_id_number", ["tenant_id", "id_number_bidx"], unique=False)
        batch_op.create_index("ix_customer_mobile", ["tenant_id", "mobile_bidx"], unique=False)
        batch_op.create_index("ix_customer_mobile_last4", ["tenant_id", "mobile_last4_bidx"], unique=False)

    op.create_table(
        "subject_key",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_subject_key")),
    )
    with op.batch_alter_table("subject_key", schema=None) as batch_op:
        batch_op.create_index("ix_subject_key_rewrap", ["tenant_id", "kek_version"], unique=False)

    op.create_table(
        "tenant",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kek_ref", sa.String(length=128), nullable=False),
        sa.Column("index_key_version", sa.Integer(), nullable=False),
        sa.Column("index_key_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant")),
    )
    op.create_table(
        "service_account",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("key_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_service_account_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_service_account")),
    )
    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.create_index("ix_service_account_tenant", ["tenant_id", "name"], unique=False)

    _secure_postgres()


def _secure_postgres() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            "USING (tenant_id = current_setting('callvault.tenant_id', true)) "
            "WITH CHECK (tenant_id = current_setting('callvault.tenant_id', true))"
        )
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON customer, subject_key, service_account TO "{app_role}"')
        op.execute(f'GRANT SELECT, INSERT, UPDATE ON tenant TO "{app_role}"')


def downgrade() -> None:
    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.drop_index("ix_service_account_tenant")

    op.drop_table("service_account")
    op.drop_table("tenant")
    with op.batch_alter_table("subject_key", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_key_rewrap")

    op.drop_table("subject_key")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_mobile_last4")
        batch_op.drop_index("ix_customer_mobile")
        batch_op.drop_index("ix_customer_id_number")
        batch_op.drop_index("ix_customer_email")
        batch_op.drop_index("ix_customer_agent")

    op.drop_table("customer")
