"""Match records: written when a match starts and when it ends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update

from signaling.storage.db import Database
from signaling.storage.tables import MatchRecord


class MatchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def started(
        self, match: str, mode: str, visitor_a: str, visitor_b: str, at: datetime
    ) -> None:
        async with self.db.sessions.begin() as session:
            session.add(
                MatchRecord(
                    id=match, mode=mode, visitor_a=visitor_a, visitor_b=visitor_b, started_at=at
                )
            )

    async def ended(self, match: str, reason: str, at: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(MatchRecord)
                .where(MatchRecord.id == match)
                .values(ended_at=at, end_reason=reason)
            )

    async def get(self, match: str) -> MatchRecord | None:
        async with self.db.sessions() as session:
            return await session.get(MatchRecord, match)

    async def purge_ended(self, before: datetime) -> int:
        """Delete matches that ended before ``before``; returns how many."""
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(MatchRecord).where(
                    MatchRecord.ended_at.is_not(None), MatchRecord.ended_at < before
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
