"""monitoring: anomaly rules, alerts and incidents (issue 15)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

Reserved in the chain so that capabilities built side by side never fork it; the
capability's tables are created here.
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
