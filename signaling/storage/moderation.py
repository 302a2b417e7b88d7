"""Moderation records in the database: the SQLAlchemy side of
:class:`moderation.records.ModerationStore`.

SQLite drops time zones: every datetime is stored in UTC and read back as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, or_, select, update

from moderation.records import BanRecord, EvidenceRecord, ReviewItem
from signaling.storage.db import Database
from signaling.storage.tables import BanRow, EvidenceRow, ReviewRow


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlModerationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(
        self,
        evidence: EvidenceRecord,
        ban: BanRecord | None = None,
        review: ReviewItem | None = None,
    ) -> None:
        async with self.db.sessions.begin() as session:
            session.add(
                EvidenceRow(
                    id=evidence.id,
                    kind=evidence.kind,
                    visitor=evidence.visitor,
                    match=evidence.match,
                    created_at=_utc(evidence.created_at),
                    path=evidence.path,
                    sha256=evidence.sha256,
                    blurred_path=evidence.blurred_path,
                    reason=evidence.reason,
                    details=evidence.details,
                )
            )
            if ban is not None:
                session.add(
                    BanRow(
                        id=ban.id,
                        visitor=ban.visitor,
                        ip=ban.ip,
                        session=ban.session,
                        device=ban.device,
                        reason=ban.reason,
                        source=ban.source,
                        created_at=_utc(ban.created_at),
                        until=_utc(ban.until),
                        evidence_id=ban.evidence_id,
                    )
                )
            if review is not None:
                session.add(
                    ReviewRow(
                        id=review.id,
                        visitor=review.visitor,
                        match=review.match,
                        priority=review.priority,
                        reason=review.reason,
                        created_at=_utc(review.created_at),
                        evidence_id=review.evidence_id,
                        status=review.status,
                    )
                )

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
            .where(BanRow.until > _utc(now), or_(*covered))
            .order_by(BanRow.until.desc())
            .limit(1)
        )
        async with self.db.sessions() as db_session:
            row = (await db_session.execute(query)).scalar_one_or_none()
        return None if row is None else _ban(row)

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        async with self.db.sessions() as session:
            row = await session.get(EvidenceRow, evidence_id)
        return None if row is None else _evidence(row)

    async def bans(self, limit: int = 100) -> list[BanRecord]:
        query = select(BanRow).order_by(BanRow.created_at.desc()).limit(limit)
        async with self.db.sessions() as session:
            return [_ban(row) for row in (await session.execute(query)).scalars()]

    async def reviews(self, status: str = "open", limit: int = 100) -> list[ReviewItem]:
        high_first = (ReviewRow.priority != "high").asc()
        query = (
            select(ReviewRow)
            .where(ReviewRow.status == status)
            .order_by(high_first, ReviewRow.created_at)
            .limit(limit)
        )
        async with self.db.sessions() as session:
            return [_review(row) for row in (await session.execute(query)).scalars()]

    async def evidence_before(self, before: datetime, limit: int = 500) -> list[EvidenceRecord]:
        query = (
            select(EvidenceRow)
            .where(EvidenceRow.created_at < _utc(before))
            .order_by(EvidenceRow.created_at)
            .limit(limit)
        )
        async with self.db.sessions() as session:
            return [_evidence(row) for row in (await session.execute(query)).scalars()]

    async def delete_evidence(self, ids: list[str]) -> None:
        if not ids:
            return
        async with self.db.sessions.begin() as session:
            await session.execute(delete(EvidenceRow).where(EvidenceRow.id.in_(ids)))
            await session.execute(
                update(BanRow).where(BanRow.evidence_id.in_(ids)).values(evidence_id=None)
            )


def _evidence(row: EvidenceRow) -> EvidenceRecord:
    return EvidenceRecord(
        id=row.id,
        kind="text" if row.kind == "text" else "frame",
        visitor=row.visitor,
        match=row.match,
        created_at=_utc(row.created_at),
        path=row.path,
        sha256=row.sha256,
        blurred_path=row.blurred_path,
        reason=row.reason,
        details=dict(row.details),
    )


def _ban(row: BanRow) -> BanRecord:
    return BanRecord(
        id=row.id,
        visitor=row.visitor,
        ip=row.ip,
        session=row.session,
        device=row.device,
        reason=row.reason,
        source=row.source,
        created_at=_utc(row.created_at),
        until=_utc(row.until),
        evidence_id=row.evidence_id,
    )


def _review(row: ReviewRow) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        visitor=row.visitor,
        match=row.match,
        priority="high" if row.priority == "high" else "normal",
        reason=row.reason,
        created_at=_utc(row.created_at),
        evidence_id=row.evidence_id,
        status=row.status,
    )
