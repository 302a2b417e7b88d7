"""The retention job: each kind purged by its own age; a failing purge does not stop the
others; the SQL purges delete exactly what is old enough."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from signaling.config.door import RetentionSettings
from signaling.room.reports import MemoryReportSink
from signaling.service.retention import RetentionJob
from signaling.storage import Database, MatchStore, VisitorSessionStore
from signaling.storage.reports import Filing

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_each_kind_is_purged_by_its_own_age() -> None:
    seen: dict[str, datetime] = {}

    def purge(kind: str):  # type: ignore[no-untyped-def]
        async def run(before: datetime) -> int:
            seen[kind] = before
            if kind == "sessions":
                raise RuntimeError("database down")
            return 2

        return run

    job = RetentionJob(
        RetentionSettings(matches_days=30, sessions_days=7, chat_attachments_hours=24),
        now=lambda: NOW,
        matches=purge("matches"),
        sessions=purge("sessions"),
        chat_attachments=purge("chat"),
    )
    assert await job.run_once() == {"matches": 2, "chat_attachments": 2}
    assert seen == {
        "matches": NOW - timedelta(days=30),
        "sessions": NOW - timedelta(days=7),
        "chat": NOW - timedelta(hours=24),
    }
    assert job.purged == {"matches": 2, "chat_attachments": 2}


async def test_sql_purges_of_matches_and_sessions(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3")
    await db.migrate()
    try:
        matches, sessions = MatchStore(db), VisitorSessionStore(db)
        old, new = NOW - timedelta(days=40), NOW - timedelta(days=1)
        await matches.started("m_old", "text", "a", "b", old)
        await matches.ended("m_old", "next", old)
        await matches.started("m_new", "text", "a", "b", new)
        await matches.ended("m_new", "next", new)
        await matches.started("m_live", "text", "a", "b", old)  # not ended: kept
        await sessions.created("s_old", "d" * 16, old, old + timedelta(hours=12))
        await sessions.created("s_new", "d" * 16, new, new + timedelta(hours=12))
        job = RetentionJob(
            RetentionSettings(),
            now=lambda: NOW,
            matches=matches.purge_ended,
            sessions=sessions.purge_expired,
        )
        assert await job.run_once() == {"matches": 1, "sessions": 1}
        assert await matches.get("m_old") is None
        assert await matches.get("m_new") is not None and await matches.get("m_live") is not None
        assert await sessions.get("s_old") is None and await sessions.get("s_new") is not None
    finally:
        await db.close()


async def test_chat_attachments_go_after_a_day_unless_the_report_is_under_review() -> None:
    sink = MemoryReportSink()
    filing = Filing("v_a", "1.1.1.1", "v_b", "2.2.2.2", "spam", transcript=[("reported", "x")])
    open_id = await sink.file_report(filing)
    done_id = await sink.file_report(filing)
    await sink.resolve(done_id, "dismissed", "clean")
    for report in sink.reports.values():
        report.created_at = NOW - timedelta(hours=30)
    assert await sink.purge_transcripts(NOW - timedelta(hours=24)) == 1
    assert sink.reports[done_id].filing.transcript == ()
    assert sink.reports[open_id].filing.transcript == [("reported", "x")]
