"""Moderation records in the database: the SQLAlchemy side of
:class:`moderation.records.ModerationStore`.

Every ban and review item moderation records is written to the audit log (actor
``system:moderation``) in the same transaction as the record itself, and so is every
automatic ban's QA record (:mod:`signaling.storage.qa`: sampled or not). SQLite drops time
zones: every datetime is stored in UTC and read back as UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from moderation.records import BanRecord, EvidenceRecord, ReviewItem
from signaling.storage.audit import SYSTEM_MODERATION, AuditLog, AuditTransaction
from signaling.storage.cases import OPEN_STATUSES
from signaling.storage.db import Database, utc
from signaling.storage.qa import QaStore
from signaling.storage.qa_actions import action_of_ban, action_of_hold
from signaling.storage.tables import AppealRow, BanRow, EvidenceRow, ReviewRow


class SqlModerationStore:
    def __init__(
        self, db: Database, audit: AuditLog | None = None, qa: QaStore | None = None
    ) -> None:
        """``audit``: the node's audit log (shared, so that appends are serialised);
        ``qa``: where automatic bans are recorded and sampled for QA (none: not sampled)."""
        self.db = db
        self.audit = audit or AuditLog(db)
        self.qa = qa

    async def save(
        self,
        evidence: EvidenceRecord,
        ban: BanRecord | None = None,
        review: ReviewItem | None = None,
    ) -> None:
        async def work(tx: AuditTransaction) -> None:
            session = tx.session
            session.add(
                EvidenceRow(
                    id=evidence.id,
                    kind=evidence.kind,
                    visitor=evidence.visitor,
                    match=evidence.match,
                    created_at=utc(evidence.created_at),
                    path=evidence.path,
                    sha256=evidence.sha256,
                    blurred_path=evidence.blurred_path,
                    reason=evidence.reason,
                    details=evidence.details,
                )
            )
            if ban is not None:
                session.add(ban_row(ban))
                await tx.append(
                    SYSTEM_MODERATION,
                    "ban.created",
                    f"ban:{ban.id}",
                    ban.reason,
                    _ban_details(ban),
                )
                if self.qa is not None and ban.created_by is None:
                    # A ban that a review item asks reviewers to confirm (verbal reports) is
                    # decided by a person anyway: recorded, never queued a second time.
                    confirmed = review is not None and review.ban_id == ban.id
                    await self.qa.record(tx, action_of_ban(ban, evidence), sample=not confirmed)
            if review is not None:
                session.add(review_row(review))
                details: dict[str, Any] = {
                    "visitor": review.visitor,
                    "ip": review.ip,
                    "match": review.match,
                    "priority": review.priority,
                    "evidence": review.evidence_id,
                }
                if review.hold_until is not None:
                    details["hold_until"] = utc(review.hold_until).isoformat()
                    details["session"] = review.session
                    details["device"] = review.device
                await tx.append(
                    SYSTEM_MODERATION,
                    "hold.created" if review.hold_until is not None else "review.created",
                    f"review:{review.id}",
                    review.reason,
                    details,
                )
                if self.qa is not None and review.hold_until is not None:
                    # Reviewers decide every hold; its decision is the QA measure.
                    await self.qa.record(tx, action_of_hold(review, evidence), sample=False)

        await self.audit.run(work)

    async def active_ban(
        self, now: datetime, ip: str, session: str | None = None, device: str | None = None
    ) -> BanRecord | None:
        covered = [BanRow.ip == ip]
        if session is not None:
            covered.append(BanRow.session == session)
        if device is not None:
            covered.append(BanRow.device == device)
        query = (
            select(BanRow)
            .where(BanRow.until > utc(now), BanRow.lifted_at.is_(None), or_(*covered))
            .order_by(BanRow.until.desc())
            .limit(1)
        )
        async with self.db.sessions() as db_session:
            row = (await db_session.execute(query)).scalar_one_or_none()
        return None if row is None else ban_record(row)

    async def active_hold(
        self, now: datetime, visitor: str, session: str | None = None, device: str | None = None
    ) -> ReviewItem | None:
        covered = [ReviewRow.visitor == visitor]
        if session is not None:
            covered.append(ReviewRow.session == session)
        if device is not None:
            covered.append(ReviewRow.device == device)
        query = (
            select(ReviewRow)
            .where(
                ReviewRow.hold_until > utc(now),
                ReviewRow.status.in_(("open", "escalated")),
                or_(*covered),
            )
            .order_by(ReviewRow.hold_until.desc())
            .limit(1)
        )
        rows = await self.db.rows(query)
        return review_item(rows[0]) if rows else None

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        async with self.db.sessions() as session:
            row = await session.get(EvidenceRow, evidence_id)
        return None if row is None else evidence_record(row)

    async def bans(self, limit: int = 100) -> list[BanRecord]:
        query = select(BanRow).order_by(BanRow.created_at.desc()).limit(limit)
        return [ban_record(row) for row in await self.db.rows(query)]

    async def reviews(self, status: str = "open", limit: int = 100) -> list[ReviewItem]:
        high_first = (ReviewRow.priority != "high").asc()
        query = (
            select(ReviewRow)
            .where(ReviewRow.status == status)
            .order_by(high_first, ReviewRow.created_at)
            .limit(limit)
        )
        return [review_item(row) for row in await self.db.rows(query)]

    async def evidence_before(self, before: datetime, limit: int = 500) -> list[EvidenceRecord]:
        """Old evidence retention may delete: never that of an undecided review item
        (holds included) or of a ban with an undecided appeal."""
        open_reviews = select(ReviewRow.evidence_id).where(ReviewRow.status.in_(OPEN_STATUSES))
        appealed = select(BanRow.evidence_id).where(
            BanRow.evidence_id.is_not(None),
            BanRow.id.in_(select(AppealRow.ban_id).where(AppealRow.status.in_(OPEN_STATUSES))),
        )
        query = (
            select(EvidenceRow)
            .where(
                EvidenceRow.created_at < utc(before),
                EvidenceRow.id.not_in(open_reviews),
                EvidenceRow.id.not_in(appealed),
            )
            .order_by(EvidenceRow.created_at)
            .limit(limit)
        )
        return [evidence_record(row) for row in await self.db.rows(query)]

    async def delete_evidence(self, ids: list[str]) -> None:
        if not ids:
            return

        async def work(tx: AuditTransaction) -> None:
            await tx.session.execute(delete(EvidenceRow).where(EvidenceRow.id.in_(ids)))
            await tx.session.execute(
                update(BanRow).where(BanRow.evidence_id.in_(ids)).values(evidence_id=None)
            )
            await tx.append(
                SYSTEM_MODERATION,
                "evidence.purged",
                f"evidence:{len(ids)}",
                "retention",
                {"evidence": list(ids)},
            )

        await self.audit.run(work)


def evidence_record(row: EvidenceRow) -> EvidenceRecord:
    return EvidenceRecord(
        id=row.id,
        kind="text" if row.kind == "text" else "frame",
        visitor=row.visitor,
        match=row.match,
        created_at=utc(row.created_at),
        path=row.path,
        sha256=row.sha256,
        blurred_path=row.blurred_path,
        reason=row.reason,
        details=dict(row.details),
    )


def ban_row(ban: BanRecord) -> BanRow:
    return BanRow(
        id=ban.id,
        visitor=ban.visitor,
        ip=ban.ip,
        session=ban.session,
        device=ban.device,
        reason=ban.reason,
        source=ban.source,
        created_at=utc(ban.created_at),
        until=utc(ban.until),
        evidence_id=ban.evidence_id,
        created_by=ban.created_by,
        lifted_at=None if ban.lifted_at is None else utc(ban.lifted_at),
    )


def review_row(review: ReviewItem) -> ReviewRow:
    return ReviewRow(
        id=review.id,
        visitor=review.visitor,
        match=review.match,
        priority=review.priority,
        reason=review.reason,
        created_at=utc(review.created_at),
        evidence_id=review.evidence_id,
        status=review.status,
        ip=review.ip,
        session=review.session,
        device=review.device,
        hold_until=None if review.hold_until is None else utc(review.hold_until),
        ban_id=review.ban_id,
    )


def _ban_details(ban: BanRecord) -> dict[str, Any]:
    return {
        "visitor": ban.visitor,
        "ip": ban.ip,
        "session": ban.session,
        "device": ban.device,
        "source": ban.source,
        "until": utc(ban.until).isoformat(),
        "evidence": ban.evidence_id,
    }


def ban_record(row: BanRow) -> BanRecord:
    return BanRecord(
        id=row.id,
        visitor=row.visitor,
        ip=row.ip,
        session=row.session,
        device=row.device,
        reason=row.reason,
        source=row.source,
        created_at=utc(row.created_at),
        until=utc(row.until),
        evidence_id=row.evidence_id,
        created_by=row.created_by,
        lifted_at=None if row.lifted_at is None else utc(row.lifted_at),
    )


def review_item(row: ReviewRow) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        visitor=row.visitor,
        match=row.match,
        priority="high" if row.priority == "high" else "normal",
        reason=row.reason,
        created_at=utc(row.created_at),
        evidence_id=row.evidence_id,
        status=row.status,
        ip=row.ip,
        session=row.session,
        device=row.device,
        hold_until=None if row.hold_until is None else utc(row.hold_until),
        ban_id=row.ban_id,
    )
