"""shared counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Fixed-window counters for rate limits, quotas and lockouts (``callvault.core.counters``).
No ``tenant_id`` column and so no row-level security: keys carry the tenant id and never
personal data. The application role reads, upserts and prunes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counter",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_seconds", sa.BigInteger(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_seconds", "window_start", name=op.f("pk_counter")),
    )
    with op.batch_alter_table("counter", schema=None) as batch_op:
        batch_op.create_index("ix_counter_expires_at", ["expires_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        app_role = context.config.attributes.get("app_role")
        if app_role:
            op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON counter TO "{app_role}"')


def downgrade() -> None:
    with op.batch_alter_table("counter", schema=None) as batch_op:
        batch_op.drop_index("ix_counter_expires_at")
    op.drop_table("counter")
