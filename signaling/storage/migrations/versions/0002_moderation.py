"""moderation: evidence, bans, review items

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderation_evidence",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("visitor", sa.String(40), nullable=False),
        sa.Column("match", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("blurred_path", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_moderation_evidence_created_at", "moderation_evidence", ["created_at"])
    op.create_table(
        "moderation_bans",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("visitor", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("session", sa.String(64), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_id", sa.String(40), nullable=True),
    )
    op.create_index("ix_moderation_bans_ip_until", "moderation_bans", ["ip", "until"])
    op.create_index("ix_moderation_bans_session", "moderation_bans", ["session"])
    op.create_index("ix_moderation_bans_device", "moderation_bans", ["device"])
    op.create_table(
        "moderation_reviews",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("visitor", sa.String(40), nullable=False),
        sa.Column("match", sa.String(40), nullable=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_moderation_reviews_queue",
        "moderation_reviews",
        ["status", "priority", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_moderation_reviews_queue", table_name="moderation_reviews")
    op.drop_table("moderation_reviews")
    op.drop_index("ix_moderation_bans_device", table_name="moderation_bans")
    op.drop_index("ix_moderation_bans_session", table_name="moderation_bans")
    op.drop_index("ix_moderation_bans_ip_until", table_name="moderation_bans")
    op.drop_table("moderation_bans")
    op.drop_index("ix_moderation_evidence_created_at", table_name="moderation_evidence")
    op.drop_table("moderation_evidence")
