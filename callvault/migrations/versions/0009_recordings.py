"""recordings: recordings and transcripts (issue 13)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

Reserved in the chain so that capabilities built side by side never fork it; the
capability's tables are created here.
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
