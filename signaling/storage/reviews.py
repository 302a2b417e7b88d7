"""Review items and their evidence as reviewers work them (the queue's ``review`` kind).

Moderation creates review items (:class:`signaling.storage.SqlModerationStore`); reviewers
decide them here, inside audited transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, or_, select, update

from moderation.records import EvidenceRecord, ReviewItem
from signaling.storage.audit import AuditTransaction
from signaling.storage.cases import OPEN_STATUSES, decide_case
from signaling.storage.db import Database
from signaling.storage.moderation import evidence_record, review_item
from signaling.storage.tables import BanRow, EvidenceRow, ReviewRow


class ReviewStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, review_id: str) -> ReviewItem | None:
        async with self.db.sessions() as session:
            row = await session.get(ReviewRow, review_id)
        return None if row is None else review_item(row)

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        async with self.db.sessions() as session:
            row = await session.get(EvidenceRow, evidence_id)
        return None if row is None else evidence_record(row)

    async def queued(self, limit: int = 200) -> list[ReviewItem]:
        """Undecided items: escalated and HIGH first, then oldest first."""
        urgent_first = (
            (ReviewRow.status != "escalated").asc(),
            (ReviewRow.priority != "high").asc(),
        )
        query = (
            select(ReviewRow)
            .where(ReviewRow.status.in_(OPEN_STATUSES))
            .order_by(*urgent_first, ReviewRow.created_at)
            .limit(limit)
        )
        return [review_item(row) for row in await self.db.rows(query)]

    async def of(self, ip: str | None, visitor: str, limit: int = 20) -> list[ReviewItem]:
        """Review items about this visitor (or IP), newest first."""
        covered = [ReviewRow.visitor == visitor]
        if ip is not None:
            covered.append(ReviewRow.ip == ip)
        query = (
            select(ReviewRow)
            .where(or_(*covered))
            .order_by(ReviewRow.created_at.desc())
            .limit(limit)
        )
        return [review_item(row) for row in await self.db.rows(query)]

    @staticmethod
    async def decide(
        tx: AuditTransaction,
        review_id: str,
        status: Literal["upheld", "overturned", "escalated"],
        by: str,
        note: str,
        now: datetime,
    ) -> bool:
        """Move an undecided item to ``status`` inside ``tx``; ``False`` if it was decided
        already."""
        return await decide_case(tx, ReviewRow, review_id, status, by, note, now)

    @staticmethod
    async def take_evidence(tx: AuditTransaction, ids: Sequence[str]) -> list[EvidenceRecord]:
        """Delete evidence records inside ``tx`` and return them (their files are the
        caller's to delete once the transaction committed). Bans keep their rows."""
        wanted = [i for i in ids if i]
        if not wanted:
            return []
        rows = (
            await tx.session.execute(select(EvidenceRow).where(EvidenceRow.id.in_(wanted)))
        ).scalars()
        records = [evidence_record(row) for row in rows]
        await tx.session.execute(delete(EvidenceRow).where(EvidenceRow.id.in_(wanted)))
        await tx.session.execute(
            update(BanRow).where(BanRow.evidence_id.in_(wanted)).values(evidence_id=None)
        )
        return records
