"""Records moderation keeps (evidence, bans, review items) and the store port they go to.

The store is a port: the composition root hands moderation an implementation (SQLAlchemy
in ``signaling.storage``); :class:`MemoryStore` serves unit tests. Evidence *files* are
written by :mod:`moderation.evidence`; these records point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

EvidenceKind = Literal["frame", "text"]
Priority = Literal["high", "normal"]


@dataclass(frozen=True)
class EvidenceRecord:
    id: str
    kind: EvidenceKind
    visitor: str
    match: str | None
    created_at: datetime
    path: str
    """File name relative to ``moderation.evidence_dir`` (JPEG, or text for chat)."""
    sha256: str
    """SHA-256 (hex) of the file at ``path``."""
    blurred_path: str | None
    """Blurred copy of a frame, shown to reviewers by default."""
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    """The verdict (scores, boxes, faces, source) or the flagged messages."""


@dataclass(frozen=True)
class BanRecord:
    id: str
    visitor: str
    ip: str
    session: str | None
    device: str | None
    reason: str
    source: str
    """``video`` or ``text``."""
    created_at: datetime
    until: datetime
    evidence_id: str | None
    created_by: str | None = None
    """The reviewer who banned by hand; ``None`` when moderation did."""
    lifted_at: datetime | None = None
    """When a reviewer lifted the ban (unban, overturned appeal); it no longer applies."""

    def active(self, now: datetime) -> bool:
        return self.lifted_at is None and self.until > now


@dataclass(frozen=True)
class ReviewItem:
    id: str
    visitor: str
    match: str | None
    priority: Priority
    reason: str
    created_at: datetime
    evidence_id: str
    status: str = "open"
    """``open``, ``escalated``, then ``upheld`` or ``overturned`` (by a reviewer)."""
    ip: str | None = None
    """The visitor's identifiers, so that a reviewer who upholds the item can ban them."""
    session: str | None = None
    device: str | None = None
    ban_id: str | None = None
    """Set when the item asks a reviewer to confirm a ban already made (verbal reports):
    upholding keeps that ban, overturning lifts it."""
    hold_until: datetime | None = None
    """Set on a *hold* (a possible minor in explicit video): until then, or until a
    reviewer decides the item, the visitor cannot be matched. ``None``: a plain item."""

    def holding(self, now: datetime) -> bool:
        """Whether this item holds its visitor now (a hold, undecided, not expired)."""
        return (
            self.hold_until is not None
            and self.status in ("open", "escalated")
            and self.hold_until > now
        )


class ModerationStore(Protocol):
    async def save(
        self,
        evidence: EvidenceRecord,
        ban: BanRecord | None = None,
        review: ReviewItem | None = None,
    ) -> None:
        """Store the evidence and what it supports, in one transaction."""
        ...

    async def active_ban(
        self, now: datetime, ip: str, session: str | None = None, device: str | None = None
    ) -> BanRecord | None:
        """The longest-lasting ban covering any of the identifiers, if any (lifted bans
        do not count)."""
        ...

    async def active_hold(
        self, now: datetime, visitor: str, session: str | None = None, device: str | None = None
    ) -> ReviewItem | None:
        """The hold covering the visitor id, session or device now, if any (never by IP:
        a hold is not a ban, others behind the same address are not affected)."""
        ...

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None: ...

    async def bans(self, limit: int = 100) -> list[BanRecord]:
        """Newest first."""
        ...

    async def reviews(self, status: str = "open", limit: int = 100) -> list[ReviewItem]:
        """HIGH priority first, then oldest first (the reviewers' queue order)."""
        ...

    async def evidence_before(self, before: datetime, limit: int = 500) -> list[EvidenceRecord]:
        """Evidence created before ``before`` that retention may delete: never the
        evidence of an undecided review item (holds included) or of a ban whose appeal
        is undecided."""
        ...

    async def delete_evidence(self, ids: list[str]) -> None:
        """Forget evidence records (bans and reviews keep their rows, pointing nowhere)."""
        ...


class MemoryStore:
    """A :class:`ModerationStore` in memory (tests, benchmarks)."""

    def __init__(self) -> None:
        self.evidence_records: dict[str, EvidenceRecord] = {}
        self.ban_records: list[BanRecord] = []
        self.review_items: list[ReviewItem] = []

    async def save(
        self,
        evidence: EvidenceRecord,
        ban: BanRecord | None = None,
        review: ReviewItem | None = None,
    ) -> None:
        self.evidence_records[evidence.id] = evidence
        if ban is not None:
            self.ban_records.append(ban)
        if review is not None:
            self.review_items.append(review)

    async def active_ban(
        self, now: datetime, ip: str, session: str | None = None, device: str | None = None
    ) -> BanRecord | None:
        found = [
            b
            for b in self.ban_records
            if b.active(now)
            and (
                b.ip == ip
                or (session is not None and b.session == session)
                or (device is not None and b.device == device)
            )
        ]
        return max(found, key=lambda b: b.until, default=None)

    async def active_hold(
        self, now: datetime, visitor: str, session: str | None = None, device: str | None = None
    ) -> ReviewItem | None:
        for item in self.review_items:
            if item.holding(now) and (
                item.visitor == visitor
                or (session is not None and item.session == session)
                or (device is not None and item.device == device)
            ):
                return item
        return None

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        return self.evidence_records.get(evidence_id)

    async def bans(self, limit: int = 100) -> list[BanRecord]:
        return sorted(self.ban_records, key=lambda b: b.created_at, reverse=True)[:limit]

    async def reviews(self, status: str = "open", limit: int = 100) -> list[ReviewItem]:
        items = [r for r in self.review_items if r.status == status]
        items.sort(key=lambda r: (r.priority != "high", r.created_at))
        return items[:limit]

    async def evidence_before(self, before: datetime, limit: int = 500) -> list[EvidenceRecord]:
        kept = {r.evidence_id for r in self.review_items if r.status in ("open", "escalated")}
        old = [
            e for e in self.evidence_records.values() if e.created_at < before and e.id not in kept
        ]
        return sorted(old, key=lambda e: e.created_at)[:limit]

    async def delete_evidence(self, ids: list[str]) -> None:
        for evidence_id in ids:
            self.evidence_records.pop(evidence_id, None)
        gone = set(ids)
        self.ban_records = [
            replace(b, evidence_id=None) if b.evidence_id in gone else b for b in self.ban_records
        ]
