"""Appeals: a banned visitor asks for a second look. One per ban (unique ``ban_id``)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from signaling.storage.audit import AuditTransaction
from signaling.storage.cases import OPEN_STATUSES, decide_case
from signaling.storage.db import Database, utc
from signaling.storage.tables import AppealRow


class AlreadyAppealed(Exception):
    """The ban has an appeal already."""


@dataclass(frozen=True)
class AppealRecord:
    id: str
    ban_id: str
    created_at: datetime
    ip: str
    text: str
    status: str
    """``open``, ``escalated``, ``upheld`` (the ban stands) or ``overturned``."""
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None

    @property
    def pending(self) -> bool:
        return self.status in OPEN_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ban": self.ban_id,
            "created_at": self.created_at.isoformat(),
            "ip": self.ip,
            "text": self.text,
            "status": self.status,
            "decided_by": self.decided_by,
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
            "decision_note": self.decision_note,
        }


def _record(row: AppealRow) -> AppealRecord:
    return AppealRecord(
        id=row.id,
        ban_id=row.ban_id,
        created_at=utc(row.created_at),
        ip=row.ip,
        text=row.text,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else utc(row.decided_at),
        decision_note=row.decision_note,
    )


class AppealStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def file(self, ban_id: str, ip: str, text: str, now: datetime) -> AppealRecord:
        """Store the appeal of ``ban_id``; :class:`AlreadyAppealed` if it has one."""
        row = AppealRow(
            id="ap_" + secrets.token_hex(8),
            ban_id=ban_id,
            created_at=utc(now),
            ip=ip[:64],
            text=text,
            status="open",
        )
        try:
            async with self.db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise AlreadyAppealed(ban_id) from None
        return _record(row)

    async def get(self, appeal_id: str) -> AppealRecord | None:
        async with self.db.sessions() as session:
            row = await session.get(AppealRow, appeal_id)
        return None if row is None else _record(row)

    async def for_ban(self, ban_id: str) -> AppealRecord | None:
        async with self.db.sessions() as session:
            row = (
                await session.execute(select(AppealRow).where(AppealRow.ban_id == ban_id))
            ).scalar_one_or_none()
        return None if row is None else _record(row)

    async def for_bans(self, ban_ids: Sequence[str]) -> list[AppealRecord]:
        if not ban_ids:
            return []
        query = (
            select(AppealRow)
            .where(AppealRow.ban_id.in_(list(ban_ids)))
            .order_by(AppealRow.created_at.desc())
        )
        return [_record(row) for row in await self.db.rows(query)]

    async def listing(self, status: str | None = None, limit: int = 100) -> list[AppealRecord]:
        """Newest first, optionally with one status."""
        query = select(AppealRow).order_by(AppealRow.created_at.desc()).limit(min(limit, 500))
        if status is not None:
            query = query.where(AppealRow.status == status)
        return [_record(row) for row in await self.db.rows(query)]

    async def queued(self, limit: int = 200) -> list[AppealRecord]:
        """Undecided appeals, escalated first, then oldest first."""
        escalated_first = (AppealRow.status != "escalated").asc()
        query = (
            select(AppealRow)
            .where(AppealRow.status.in_(OPEN_STATUSES))
            .order_by(escalated_first, AppealRow.created_at)
            .limit(limit)
        )
        return [_record(row) for row in await self.db.rows(query)]

    async def decide(
        self,
        tx: AuditTransaction,
        appeal_id: str,
        status: Literal["upheld", "overturned", "escalated"],
        by: str,
        note: str,
        now: datetime,
    ) -> bool:
        """Move an undecided appeal to ``status`` inside ``tx``; ``False`` if it was
        decided already."""
        return await decide_case(tx, AppealRow, appeal_id, status, by, note, now)
