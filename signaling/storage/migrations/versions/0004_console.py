"""console: reviewer accounts and sessions, reports, appeals, claims, the audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The audit log is append-only in the database too: triggers refuse UPDATE and DELETE (the
hash chain, checked by ``duet audit verify``, finds changes made around them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
       ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    with op.batch_alter_table("moderation_bans") as bans:
        bans.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        bans.add_column(sa.Column("lifted_at", _TZ, nullable=True))
        bans.add_column(sa.Column("lifted_by", sa.String(64), nullable=True))
        bans.add_column(sa.Column("lift_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("moderation_reviews") as reviews:
        reviews.add_column(sa.Column("ip", sa.String(64), nullable=True))
        reviews.add_column(sa.Column("session", sa.String(64), nullable=True))
        reviews.add_column(sa.Column("device", sa.String(64), nullable=True))
        reviews.add_column(sa.Column("decided_by", sa.String(64), nullable=True))
        reviews.add_column(sa.Column("decided_at", _TZ, nullable=True))
        reviews.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
    op.create_index("ix_moderation_reviews_ip", "moderation_reviews", ["ip"])

    op.create_table(
        "reports",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("reporter_visitor", sa.String(40), nullable=False),
        sa.Column("reporter_ip", sa.String(64), nullable=False),
        sa.Column("reporter_session", sa.String(64), nullable=True),
        sa.Column("reported_visitor", sa.String(40), nullable=False),
        sa.Column("reported_ip", sa.String(64), nullable=False),
        sa.Column("reported_session", sa.String(64), nullable=True),
        sa.Column("reported_device", sa.String(64), nullable=True),
        sa.Column("match", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", _TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_reports_queue", "reports", ["status", "priority", "created_at"])
    op.create_index("ix_reports_reported_ip", "reports", ["reported_ip"])
    op.create_index("ix_reports_created_at", "reports", ["created_at"])

    op.create_table(
        "appeals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("ban_id", sa.String(40), nullable=False, unique=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", _TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_appeals_queue", "appeals", ["status", "created_at"])

    op.create_table(
        "review_claims",
        sa.Column("item", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(40), nullable=False),
        sa.Column("reviewer_name", sa.String(64), nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
    )

    op.create_table(
        "admin_accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("last_login_at", _TZ, nullable=True),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("last_seen_at", _TZ, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    op.create_index("ix_admin_sessions_account", "admin_sessions", ["account_id"])

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    dialect = op.get_bind().dialect.name
    triggers = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(dialect, [])
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for index, table in [
        ("ix_audit_log_target", "audit_log"),
        ("ix_audit_log_at", "audit_log"),
        ("ix_admin_sessions_account", "admin_sessions"),
        ("ix_appeals_queue", "appeals"),
        ("ix_reports_created_at", "reports"),
        ("ix_reports_reported_ip", "reports"),
        ("ix_reports_queue", "reports"),
        ("ix_moderation_reviews_ip", "moderation_reviews"),
    ]:
        op.drop_index(index, table_name=table)
    for table in [
        "audit_log",
        "admin_sessions",
        "admin_accounts",
        "review_claims",
        "appeals",
        "reports",
    ]:
        op.drop_table(table)
    with op.batch_alter_table("moderation_reviews") as reviews:
        for column in ("decision_note", "decided_at", "decided_by", "device", "session", "ip"):
            reviews.drop_column(column)
    with op.batch_alter_table("moderation_bans") as bans:
        for column in ("lift_reason", "lifted_by", "lifted_at", "created_by"):
            bans.drop_column(column)
