"""Bans as reviewers see them: lists with filters, manual bans, lifting.

Moderation records its bans through :class:`signaling.storage.SqlModerationStore`; this
store reads the same table and makes the changes reviewers make, each inside an audited
transaction (:class:`signaling.storage.audit.AuditTransaction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, select, update

from moderation.records import BanRecord
from signaling.storage.audit import AuditTransaction
from signaling.storage.db import Database, utc
from signaling.storage.moderation import ban_record, ban_row
from signaling.storage.tables import BanRow

BanState = Literal["active", "expired", "lifted"]


@dataclass(frozen=True)
class BanFilter:
    state: BanState | None = None
    ip: str | None = None
    session: str | None = None
    device: str | None = None
    visitor: str | None = None


class BanStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, ban_id: str) -> BanRecord | None:
        async with self.db.sessions() as session:
            row = await session.get(BanRow, ban_id)
        return None if row is None else ban_record(row)

    async def listing(
        self, now: datetime, where: BanFilter | None = None, limit: int = 100
    ) -> list[BanRecord]:
        """Newest first, filtered by state and identifiers."""
        where = where or BanFilter()
        query = select(BanRow).order_by(BanRow.created_at.desc()).limit(min(limit, 500))
        now = utc(now)
        if where.state == "active":
            query = query.where(BanRow.lifted_at.is_(None), BanRow.until > now)
        elif where.state == "expired":
            query = query.where(BanRow.lifted_at.is_(None), BanRow.until <= now)
        elif where.state == "lifted":
            query = query.where(BanRow.lifted_at.is_not(None))
        for column, value in (
            (BanRow.ip, where.ip),
            (BanRow.session, where.session),
            (BanRow.device, where.device),
            (BanRow.visitor, where.visitor),
        ):
            if value is not None:
                query = query.where(column == value)
        return [ban_record(row) for row in await self.db.rows(query)]

    async def of(self, ip: str, visitor: str | None, limit: int = 20) -> list[BanRecord]:
        """Bans of this IP (or visitor), newest first: a visitor's history."""
        covered = [BanRow.ip == ip]
        if visitor is not None:
            covered.append(BanRow.visitor == visitor)
        query = select(BanRow).where(or_(*covered)).order_by(BanRow.created_at.desc()).limit(limit)
        return [ban_record(row) for row in await self.db.rows(query)]

    @staticmethod
    async def add(tx: AuditTransaction, ban: BanRecord) -> None:
        tx.session.add(ban_row(ban))
        await tx.session.flush()

    @staticmethod
    async def lift(tx: AuditTransaction, ban_id: str, by: str, reason: str, now: datetime) -> bool:
        """Lift a ban inside ``tx`` (it stops applying at once); ``False`` if it is unknown
        or lifted already."""
        result = await tx.session.execute(
            update(BanRow)
            .where(BanRow.id == ban_id, BanRow.lifted_at.is_(None))
            .values(lifted_at=utc(now), lifted_by=by, lift_reason=reason)
        )
        return bool(getattr(result, "rowcount", 0))

    async def many(self, ids: list[str]) -> dict[str, BanRecord]:
        if not ids:
            return {}
        async with self.db.sessions() as session:
            rows = (await session.execute(select(BanRow).where(BanRow.id.in_(ids)))).scalars()
            return {row.id: ban_record(row) for row in rows}
