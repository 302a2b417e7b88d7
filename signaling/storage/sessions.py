"""Session records (written when the door issues a session) and their retention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from signaling.storage.db import Database
from signaling.storage.tables import SessionRow


class VisitorSessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def created(
        self, session: str, device: str, created_at: datetime, expires_at: datetime
    ) -> None:
        async with self.db.sessions.begin() as db_session:
            db_session.add(
                SessionRow(id=session, device=device, created_at=created_at, expires_at=expires_at)
            )

    async def get(self, session: str) -> SessionRow | None:
        async with self.db.sessions() as db_session:
            return await db_session.get(SessionRow, session)

    async def purge_expired(self, before: datetime) -> int:
        """Delete sessions that expired before ``before``; returns how many."""
        async with self.db.sessions.begin() as db_session:
            result = await db_session.execute(
                delete(SessionRow).where(SessionRow.expires_at < before)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
