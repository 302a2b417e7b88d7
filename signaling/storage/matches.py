"""Match records: written when a match starts and when it ends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

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
