"""Table definitions. Every change here needs an Alembic migration in ``migrations/``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, Text
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

    __table_args__ = (Index("ix_moderation_reviews_queue", "status", "priority", "created_at"),)


class SessionRow(Base):
    """A session issued at the door (age gate and challenge passed). The token itself is
    not stored; bans and blocks refer to the id. Purged by retention."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_sessions_expires_at", "expires_at"),)
