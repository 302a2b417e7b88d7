"""Counts for the reviewers' dashboard, computed by the database.

Hourly buckets are made in SQL (``strftime`` on SQLite, ``date_trunc`` on PostgreSQL) so
that only at most one row per hour crosses the wire, however many matches there were.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute

from signaling.storage.db import Database, utc
from signaling.storage.tables import BanRow, MatchRecord, ReportRow

HOUR_FORMAT = "%Y-%m-%dT%H"


def hours(now: datetime, count: int) -> list[str]:
    """The labels of the last ``count`` hours, oldest first (``YYYY-MM-DDTHH``, UTC)."""
    top = utc(now).replace(minute=0, second=0, microsecond=0)
    return [(top - timedelta(hours=n)).strftime(HOUR_FORMAT) for n in range(count - 1, -1, -1)]


class DashboardStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _bucket(self, column: InstrumentedAttribute[datetime]) -> ColumnElement[str]:
        if self.db.engine.dialect.name == "postgresql":
            in_utc = func.timezone("UTC", column)
            return func.to_char(func.date_trunc("hour", in_utc), 'YYYY-MM-DD"T"HH24')
        return func.strftime(HOUR_FORMAT, column)

    async def _hourly(
        self, column: InstrumentedAttribute[datetime], now: datetime, count: int
    ) -> list[int]:
        labels = hours(now, count)
        since = datetime.strptime(labels[0], HOUR_FORMAT).replace(tzinfo=UTC)
        bucket = self._bucket(column).label("hour")
        query = select(bucket, func.count()).where(column >= since).group_by(bucket)
        async with self.db.sessions() as session:
            counts = {str(hour): int(n) for hour, n in (await session.execute(query)).all()}
        return [counts.get(label, 0) for label in labels]

    async def per_hour(self, now: datetime, count: int = 24) -> dict[str, list[Any]]:
        """Matches, reports and bans started in each of the last ``count`` hours."""
        return {
            "hours": hours(now, count),
            "matches": await self._hourly(MatchRecord.started_at, now, count),
            "reports": await self._hourly(ReportRow.created_at, now, count),
            "bans": await self._hourly(BanRow.created_at, now, count),
        }

    async def repeat_offenders(
        self, now: datetime, days: float = 30.0, limit: int = 10
    ) -> list[dict[str, Any]]:
        """IPs banned more than once in the last ``days``, most bans first."""
        since = utc(now) - timedelta(days=days)
        bans = func.count().label("bans")
        query = (
            select(BanRow.ip, bans, func.max(BanRow.created_at))
            .where(BanRow.created_at >= since)
            .group_by(BanRow.ip)
            .having(func.count() > 1)
            .order_by(bans.desc())
            .limit(limit)
        )
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            {"ip": ip, "bans": int(n), "last": utc(last).isoformat() if last else None}
            for ip, n, last in rows
        ]
