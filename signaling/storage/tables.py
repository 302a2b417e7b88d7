"""Table definitions. Every change here needs an Alembic migration in ``migrations/``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class MatchRecord(Base):
    """One match between two visitors, from pairing to its end."""

    __tablename__ = "matches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))
    visitor_a: Mapped[str] = mapped_column(String(40))
    visitor_b: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)

    __table_args__ = (Index("ix_matches_started_at", "started_at"),)


class EvidenceRow(Base):
    """A moderation evidence file (frame JPEG or chat text) and what it showed."""

    __tablename__ = "moderation_evidence"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    visitor: Mapped[str] = mapped_column(String(40))
    match: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    blurred_path: Mapped[str | None] = mapped_column(String(255), default=None)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_moderation_evidence_created_at", "created_at"),)


class BanRow(Base):
    """A ban of a visitor's IP and session (and device, once visitors have one)."""

    __tablename__ = "moderation_bans"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    visitor: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str] = mapped_column(String(64))
    session: Mapped[str | None] = mapped_column(String(64), default=None)
    device: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    evidence_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """The reviewer who banned by hand (``None``: moderation did)."""
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    """When a reviewer lifted the ban (unban, overturned appeal); ``None``: not lifted."""
    lifted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    lift_reason: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_moderation_bans_ip_until", "ip", "until"),
        Index("ix_moderation_bans_session", "session"),
        Index("ix_moderation_bans_device", "device"),
    )


class ReviewRow(Base):
    """An item in the human reviewers' queue."""

    __tablename__ = "moderation_reviews"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    visitor: Mapped[str] = mapped_column(String(40))
    match: Mapped[str | None] = mapped_column(String(40), default=None)
    priority: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    evidence_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="open")
    """``open``, ``escalated``, then ``upheld`` or ``overturned``."""
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    session: Mapped[str | None] = mapped_column(String(64), default=None)
    device: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_moderation_reviews_queue", "status", "priority", "created_at"),
        Index("ix_moderation_reviews_ip", "ip"),
    )


class ReportRow(Base):
    """A visitor's report of their partner (filed through :mod:`signaling.storage.reports`)."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reporter_visitor: Mapped[str] = mapped_column(String(40))
    reporter_ip: Mapped[str] = mapped_column(String(64))
    reporter_session: Mapped[str | None] = mapped_column(String(64), default=None)
    reported_visitor: Mapped[str] = mapped_column(String(40))
    reported_ip: Mapped[str] = mapped_column(String(64))
    reported_session: Mapped[str | None] = mapped_column(String(64), default=None)
    reported_device: Mapped[str | None] = mapped_column(String(64), default=None)
    match: Mapped[str | None] = mapped_column(String(40), default=None)
    reason: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The last chat messages of the match, ``[{"from": "reporter"|"reported", "text"}]``
    (chat is stored only when a report attaches it)."""
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="open")
    """``open``, ``escalated``, then ``actioned`` or ``dismissed``."""
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_reports_queue", "status", "priority", "created_at"),
        Index("ix_reports_reported_ip", "reported_ip"),
        Index("ix_reports_created_at", "created_at"),
    )


class AppealRow(Base):
    """A banned visitor's appeal: one per ban."""

    __tablename__ = "appeals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ban_id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str] = mapped_column(String(64))
    """Where the appeal was sent from."""
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    """``open``, ``escalated``, then ``upheld`` (the ban stands) or ``overturned``."""
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_appeals_queue", "status", "created_at"),)


class QaRow(Base):
    """One automatic action (a ban, a hold) and, when it was sampled, its QA item.

    Every automatic action gets a row, so that the sampler can stratify and the report can
    say what share was sampled; only sampled rows (``status`` ``open``) enter the queue."""

    __tablename__ = "qa_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``ban`` or ``hold``."""
    source: Mapped[str] = mapped_column(String(32))
    """What made it: ``video``, ``text``, ``report`` (a ban's source), or a hold's."""
    classifier: Mapped[str] = mapped_column(String(64))
    """Which model or rule (a verdict's ``source``, ``strikes``, ``reports``)."""
    reason: Mapped[str] = mapped_column(String(64))
    """The stratum's reason: a class label, ``word``, ``verbal``…"""
    score: Mapped[float | None] = mapped_column(Float, default=None)
    ref: Mapped[str] = mapped_column(String(40))
    """The ban's (or hold's) id."""
    evidence_id: Mapped[str | None] = mapped_column(String(40), default=None)
    visitor: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    match: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sampled: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="unsampled")
    """``unsampled``; a QA item: ``open``, ``escalated`` (unsure), then ``correct`` or
    ``wrong``. An overturned appeal makes any of them ``wrong``."""
    via: Mapped[str | None] = mapped_column(String(8), default=None)
    """How it was decided: ``qa`` (a reviewer's QA decision) or ``appeal``."""
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_qa_items_queue", "status", "created_at"),
        Index("ix_qa_items_stratum", "kind", "source", "classifier", "reason", "created_at"),
        Index("ix_qa_items_ref", "ref"),
        Index("ix_qa_items_decided_at", "decided_at"),
    )


class ClaimRow(Base):
    """A reviewer's lease on a queue item (``kind:id``): nobody else works it meanwhile."""

    __tablename__ = "review_claims"

    item: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(40))
    reviewer_name: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountRow(Base):
    """A reviewer account (moderator or admin). Only the argon2 hash of the password."""

    __tablename__ = "admin_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AdminSessionRow(Base):
    """A logged-in reviewer. ``id`` is the SHA-256 of the cookie's token, never the token."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_admin_sessions_account", "account_id"),)


class AuditRow(Base):
    """One entry of the append-only audit log; ``hash`` covers the entry and ``prev_hash``.

    The database refuses UPDATE and DELETE on this table (triggers, migration 0004)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(80))
    """``reviewer:NAME`` or ``system:moderation``."""
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_target", "target"))


class SessionRow(Base):
    """A session issued at the door (age gate and challenge passed). The token itself is
    not stored; bans and blocks refer to the id. Purged by retention."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_sessions_expires_at", "expires_at"),)
