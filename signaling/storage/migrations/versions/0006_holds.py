"""holds: a review item may hold its visitor, or ask to confirm a ban

Revision ID: 0006
Revises: 0005_qa
Create Date: 2026-11-30

``moderation_reviews.hold_until``: set on a hold; until then (or until a reviewer decides
the item) the visitor's session and device cannot be matched. ``ban_id``: the ban the item
asks a reviewer to confirm or lift (bans for verbal reports).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005_qa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("moderation_reviews") as reviews:
        reviews.add_column(sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True))
        reviews.add_column(sa.Column("ban_id", sa.String(40), nullable=True))
        reviews.create_index("ix_moderation_reviews_hold", ["hold_until"])


def downgrade() -> None:
    with op.batch_alter_table("moderation_reviews") as reviews:
        reviews.drop_index("ix_moderation_reviews_hold")
        reviews.drop_column("ban_id")
        reviews.drop_column("hold_until")
