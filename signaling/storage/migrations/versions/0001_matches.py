"""matches

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("visitor_a", sa.String(40), nullable=False),
        sa.Column("visitor_b", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_matches_started_at", "matches", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_matches_started_at", table_name="matches")
    op.drop_table("matches")
