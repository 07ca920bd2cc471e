"""audit verified heads

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

``audit_verified_head``: the signed tree heads ``audit verify`` found consistent with the
events, with the time of that check and a signature over both, so a routine verify starts
from the newest one (O(new events)). Append-only like the other audit tables; the
application role gets SELECT and INSERT only. No tenant_id: it covers the global log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "audit_verified_head"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("size", "verified_at", name=op.f("pk_audit_verified_head")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
            )
        return
    op.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION callvault_refuse_change()"
    )
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT ON {TABLE} TO "{app_role}"')
        op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM "{app_role}"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    op.drop_table(TABLE)
