"""Claims: a reviewer's short lease on one queue item, so two reviewers never work it.

A claim is a row keyed by the item (``review:r_…``). Taking one is atomic on SQLite and
PostgreSQL alike: an UPDATE that only matches an expired claim or the reviewer's own, then,
if nothing matched, an INSERT that the primary key lets only one reviewer win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from signaling.storage.db import Database, utc
from signaling.storage.tables import ClaimRow


@dataclass(frozen=True)
class Claim:
    item: str
    reviewer: str
    """Account id."""
    reviewer_name: str
    expires_at: datetime


class ClaimStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def take(
        self, item: str, reviewer: str, reviewer_name: str, now: datetime, lease_s: float
    ) -> Claim:
        """Claim ``item`` for ``reviewer`` (or renew their claim). Returns the claim that
        holds now: the reviewer's own, or another reviewer's unexpired one."""
        expires = utc(now) + timedelta(seconds=lease_s)
        mine = Claim(item, reviewer, reviewer_name, expires)
        for _ in range(3):
            async with self.db.sessions.begin() as session:
                result = await session.execute(
                    update(ClaimRow)
                    .where(
                        ClaimRow.item == item,
                        or_(ClaimRow.expires_at <= utc(now), ClaimRow.reviewer == reviewer),
                    )
                    .values(reviewer=reviewer, reviewer_name=reviewer_name, expires_at=expires)
                )
                if getattr(result, "rowcount", 0):
                    return mine
            try:
                async with self.db.sessions.begin() as session:
                    session.add(
                        ClaimRow(
                            item=item,
                            reviewer=reviewer,
                            reviewer_name=reviewer_name,
                            expires_at=expires,
                        )
                    )
                return mine
            except IntegrityError:
                holder = await self.holder(item, now)
                if holder is not None:
                    return holder
                # The winner's claim expired or was released meanwhile: try again.
        raise RuntimeError(f"could not claim {item}: it keeps changing hands")

    async def holder(self, item: str, now: datetime) -> Claim | None:
        """The unexpired claim on ``item``, if any."""
        async with self.db.sessions() as session:
            row = await session.get(ClaimRow, item)
        if row is None or utc(row.expires_at) <= utc(now):
            return None
        return Claim(row.item, row.reviewer, row.reviewer_name, utc(row.expires_at))

    async def holders(self, items: Sequence[str], now: datetime) -> dict[str, Claim]:
        if not items:
            return {}
        query = select(ClaimRow).where(
            ClaimRow.item.in_(list(items)), ClaimRow.expires_at > utc(now)
        )
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).scalars()
            return {
                row.item: Claim(row.item, row.reviewer, row.reviewer_name, utc(row.expires_at))
                for row in rows
            }

    async def release(self, item: str, reviewer: str | None = None) -> None:
        """Drop the claim on ``item`` (only ``reviewer``'s, when given)."""
        query = delete(ClaimRow).where(ClaimRow.item == item)
        if reviewer is not None:
            query = query.where(ClaimRow.reviewer == reviewer)
        async with self.db.sessions.begin() as session:
            await session.execute(query)

    async def purge(self, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(delete(ClaimRow).where(ClaimRow.expires_at <= utc(now)))
