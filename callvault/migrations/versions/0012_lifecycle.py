"""lifecycle: consent, retention, legal hold, erasure (issue 16)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

Reserved in the chain so that capabilities built side by side never fork it; the
capability's tables are created here.
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
