"""people: users, sessions, recovery codes, SCIM tokens; tenant staff-feed age

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Every new table holds ``tenant_id`` and gets the tenant policy; the two token tables
(``user_session``, ``scim_token``) also open the one row named by ``set_lookup_key``,
because a bearer token is checked before its tenant is known.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("user_account", "user_session", "user_recovery_code", "scim_token")


def upgrade() -> None:
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_max_age_seconds", sa.Integer(), nullable=True))

    op.create_table(
        "user_account",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disabled_by", sa.String(length=16), nullable=True),
        sa.Column("offboarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_key_id", sa.Uuid(), nullable=True),
        sa.Column("totp_secret_ct", sa.LargeBinary(), nullable=True),
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("last_seen_in_feed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_user_account_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_user_account")),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index("ix_user_account_username", ["tenant_id", "username"], unique=True)
        batch_op.create_index("ix_user_account_external_id", ["tenant_id", "external_id"], unique=False)
        batch_op.create_index("ix_user_account_feed", ["tenant_id", "source", "last_seen_in_feed_at"], unique=False)

    op.create_table(
        "user_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("enrol_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_user_session_tenant_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
    )
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.create_index("ix_user_session_user", ["tenant_id", "user_id"], unique=False)

    op.create_table(
        "user_recovery_code",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_user_recovery_code_tenant_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "code_digest", name=op.f("pk_user_recovery_code")),
    )

    op.create_table(
        "scim_token",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_scim_token_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_token")),
    )

    if op.get_bind().dialect.name != "postgresql":
        return
    statements = [
        *tenant_policy_sql("user_account"),
        *tenant_policy_sql("user_session", key_column="id"),
        *tenant_policy_sql("user_recovery_code"),
        *tenant_policy_sql("scim_token", key_column="id"),
    ]
    for statement in statements:
        op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(TABLES)} TO "{app_role}"')


def downgrade() -> None:
    op.drop_table("scim_token")
    op.drop_table("user_recovery_code")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_index("ix_user_session_user")
    op.drop_table("user_session")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index("ix_user_account_feed")
        batch_op.drop_index("ix_user_account_external_id")
        batch_op.drop_index("ix_user_account_username")
    op.drop_table("user_account")
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("feed_max_age_seconds")
