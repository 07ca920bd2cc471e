"""exports: export requests and their files (issue 14)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

Reserved in the chain so that capabilities built side by side never fork it; the
capability's tables are created here.
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
