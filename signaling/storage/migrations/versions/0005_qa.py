"""qa: automatic actions (bans, holds) and the QA items reviewers sample from them

Revision ID: 0005_qa
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_qa"
down_revision = "0004"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "qa_items",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("classifier", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("evidence_id", sa.String(40), nullable=True),
        sa.Column("visitor", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("match", sa.String(40), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("sampled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("via", sa.String(8), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", _TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_qa_items_queue", "qa_items", ["status", "created_at"])
    op.create_index(
        "ix_qa_items_stratum", "qa_items", ["kind", "source", "classifier", "reason", "created_at"]
    )
    op.create_index("ix_qa_items_ref", "qa_items", ["ref"])
    op.create_index("ix_qa_items_decided_at", "qa_items", ["decided_at"])


def downgrade() -> None:
    for index in (
        "ix_qa_items_decided_at",
        "ix_qa_items_ref",
        "ix_qa_items_stratum",
        "ix_qa_items_queue",
    ):
        op.drop_index(index, table_name="qa_items")
    op.drop_table("qa_items")
