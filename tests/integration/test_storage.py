"""Storage against SQLite and against a real PostgreSQL (same Alembic migrations)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from signaling.storage import Database, MatchStore
from tests.support.datastores import Postgres, run_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with run_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"
    else:
        server: Postgres = request.getfixturevalue("postgres")
        url = server.url
    database = Database(url)
    await database.migrate()
    try:
        yield database
    finally:
        if request.param == "postgres":
            async with database.engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await database.close()


async def test_migrations_are_idempotent(db: Database) -> None:
    await db.migrate()
    async with db.engine.connect() as connection:
        version = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar()
    assert version is not None


async def test_match_records_round_trip(db: Database) -> None:
    store = MatchStore(db)
    started = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    await store.started("m_1", "video", "v_a", "v_b", started)
    record = await store.get("m_1")
    assert record is not None and record.ended_at is None
    await store.ended("m_1", "next", started + timedelta(seconds=42))
    record = await store.get("m_1")
    assert record is not None
    assert record.end_reason == "next"
    assert record.ended_at is not None
    assert (record.ended_at - record.started_at).total_seconds() == pytest.approx(42)
    assert await store.get("m_missing") is None
