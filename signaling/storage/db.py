"""Engine, sessions and migrations.

Migrations run through Alembic's command API in a worker thread (Alembic's async
``env.py`` starts its own event loop), so they can be applied from ``duet serve`` start-up
as well as from ``duet db upgrade``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).with_name("migrations")

Row = TypeVar("Row")


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime. SQLite hands back naive datetimes (they were
    stored as UTC), Postgres aware ones; every store compares and formats them in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite database file if it does not exist yet."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; runs its own event loop)."""
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


class Database:
    """An async engine and session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        ensure_sqlite_dir(url)
        self.engine: AsyncEngine = create_async_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    async def migrate(self) -> None:
        """Apply every pending migration."""
        await asyncio.to_thread(upgrade, self.url)

    async def rows(self, query: Select[Row]) -> Sequence[Row]:
        """The entities a one-entity ``select`` returns, read in a session of their own.

        Assumes the caller only reads their loaded columns afterwards (sessions do not
        expire on commit, and nothing is lazy-loaded from a closed session)."""
        async with self.sessions() as session:
            return (await session.execute(query)).scalars().all()

    async def close(self) -> None:
        await self.engine.dispose()
