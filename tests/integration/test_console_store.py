"""The console's storage on SQLite and PostgreSQL: the audit chain (append-only, verified,
tampering found), claims that only one reviewer wins, hourly dashboard buckets, QA
sampling, decisions and counts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from signaling.console.precision import precision_report
from signaling.storage import Database
from signaling.storage.audit import AuditLog, AuditTransaction
from signaling.storage.claims import ClaimStore
from signaling.storage.dashboard import DashboardStore
from signaling.storage.matches import MatchStore
from signaling.storage.qa import QaStore
from signaling.storage.qa_actions import AutomaticAction, Sampler
from tests.integration.test_storage import db, postgres  # noqa: F401  (fixtures)

NOW = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)


async def test_audit_chain_holds_and_rejects_changes(db: Database) -> None:  # noqa: F811
    audit = AuditLog(db, now=lambda: NOW)
    for n in range(5):
        await audit.record("reviewer:mo", "ban.created", f"ban:b_{n}", "ünïcode ✓", {"n": n})
    result = await audit.verify()
    assert result.entries == 5 and result.broken is None
    entries = await audit.recent(10)
    assert [e.seq for e in entries] == [5, 4, 3, 2, 1]
    assert entries[0].prev_hash == entries[1].hash
    # The database refuses changes to the log.
    async with db.engine.begin() as connection:
        with pytest.raises(Exception, match="append-only"):
            await connection.execute(text("UPDATE audit_log SET reason = 'x' WHERE seq = 2"))
    async with db.engine.begin() as connection:
        with pytest.raises(Exception, match="append-only"):
            await connection.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    # Around the triggers, a change is still found: the first broken link is reported.
    async with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            await connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            await connection.execute(text("DROP TRIGGER audit_log_no_update"))
            await connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        await connection.execute(
            text("""UPDATE audit_log SET details = '{"n": 7}' WHERE seq = 3""")
        )
    broken = (await audit.verify()).broken
    assert broken is not None and broken.seq == 3 and "changed" in broken.problem
    async with db.engine.begin() as connection:
        await connection.execute(
            text("""UPDATE audit_log SET details = '{"n": 2}' WHERE seq = 3""")
        )
        await connection.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    broken = (await audit.verify()).broken
    assert broken is not None and broken.seq == 3 and "missing" in broken.problem


async def test_concurrent_appends_keep_one_chain(db: Database) -> None:  # noqa: F811
    # Two engines on one database (as two processes would have) appending at once; the
    # retries alone would not do (they run out), the cross-connection lock must.
    other = Database(db.url)
    try:
        first, second = AuditLog(db), AuditLog(other)
        await asyncio.gather(
            *[
                log.record("system:moderation", "review.created", f"review:r_{n}")
                for n in range(25)
                for log in (first, second)
            ]
        )
        result = await first.verify()
        assert result.entries == 50 and result.broken is None
    finally:
        await other.close()


async def test_an_append_waits_for_another_connections_open_one(
    db: Database,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    # While one connection's transaction has appended and not committed, another
    # connection's append waits for it instead of reading a stale last entry and
    # colliding (which only the retries would then repair).
    other = Database(db.url)
    try:
        first, second = AuditLog(db), AuditLog(other)
        appended = asyncio.Event()

        async def slow(tx: AuditTransaction) -> int:
            entry = await tx.append("reviewer:mo", "ban.created", "ban:b_1")
            appended.set()
            await asyncio.sleep(0.5)
            return entry.seq

        caplog.set_level("INFO", logger="signaling.storage.audit")
        held = asyncio.create_task(first.run(slow))
        await appended.wait()
        later = await second.record("reviewer:al", "ban.created", "ban:b_2")
        assert await held == 1 and later.seq == 2
        assert "collided" not in caplog.text
        assert (await first.verify()).broken is None
    finally:
        await other.close()


async def test_only_one_reviewer_wins_a_claim(db: Database) -> None:  # noqa: F811
    claims = ClaimStore(db)
    results = await asyncio.gather(
        *[claims.take("review:r_1", f"a_{n}", f"rev{n}", NOW, 300) for n in range(6)]
    )
    winners = {claim.reviewer for claim in results}
    assert len(winners) == 1
    winner = winners.pop()
    # The winner renews; others see the winner; after the lease anyone may take it.
    assert (await claims.take("review:r_1", winner, "w", NOW, 300)).reviewer == winner
    loser = "a_9"
    assert (await claims.take("review:r_1", loser, "l", NOW, 300)).reviewer == winner
    later = NOW + timedelta(seconds=301)
    assert (await claims.take("review:r_1", loser, "l", later, 300)).reviewer == loser
    assert await claims.holder("review:r_1", later) is not None
    await claims.release("review:r_1", winner)  # not the holder: nothing happens
    assert await claims.holder("review:r_1", later) is not None
    await claims.release("review:r_1", loser)
    assert await claims.holder("review:r_1", later) is None


async def test_dashboard_buckets_by_utc_hour(db: Database) -> None:  # noqa: F811
    matches = MatchStore(db)
    for n, minutes in enumerate([5, 50, 65, 23 * 60, 25 * 60]):
        await matches.started(f"m_{n}", "video", "v_a", "v_b", NOW - timedelta(minutes=minutes))
    hourly = await DashboardStore(db).per_hour(NOW)
    assert hourly["hours"][-1] == "2026-11-21T12" and hourly["hours"][0] == "2026-11-20T13"
    # 12:25 -> 12h; 11:40 -> 11h; 11:25 -> 11h; 13:30 yesterday -> first bucket; older: out.
    assert hourly["matches"][-1] == 1 and hourly["matches"][-2] == 2
    assert hourly["matches"][0] == 1 and sum(hourly["matches"]) == 4


async def test_qa_sampling_decisions_and_counts(db: Database) -> None:  # noqa: F811
    audit = AuditLog(db, now=lambda: NOW)
    qa = QaStore(db, audit, Sampler(0.0, 2, 7 * 86_400.0, random.Random(1)))

    def action(ref: str, reason: str, at: datetime, score: float = 0.9) -> AutomaticAction:
        return AutomaticAction("ban", "video", "nn", reason, ref, "v_" + ref, at, score)

    # The first two of a stratum within the window are sampled, then the rate (0 here);
    # an action older than the window does not count toward the two.
    old = await qa.automatic(action("b_0", "anus", NOW - timedelta(days=8)))
    items = [await qa.automatic(action(f"b_{n}", "anus", NOW)) for n in range(1, 4)]
    assert old.sampled and [i.sampled for i in items] == [True, True, False]
    other = await qa.automatic(action("b_9", "breast", NOW))
    assert other.sampled  # another stratum has its own first ones
    queued = await qa.queued()
    assert [q.action.ref for q in queued] == ["b_0", "b_1", "b_2", "b_9"]

    async def decide(tx: AuditTransaction) -> None:
        assert await qa.decide(tx, items[0].id, "correct", "mo", "right", NOW)
        assert await qa.decide(tx, items[1].id, "wrong", "mo", "a wall", NOW)
        assert not await qa.decide(tx, items[1].id, "correct", "mo", "again", NOW)
        assert await qa.wrong_by_appeal(tx, "b_3", "mo", "appeal", NOW) == [items[2].id]

    await audit.run(decide)
    report = await precision_report(qa, NOW, 7)
    (anus,) = [s for s in report.strata if s.reason == "anus"]
    assert (anus.actions, anus.sampled, anus.correct, anus.wrong) == (3, 2, 1, 2)
    assert anus.wrong_via_appeal == 1 and anus.wrong_scores == [0.9, 0.9]
    assert report.total.actions == 4 and report.total.decided == 3
    assert [q.action.ref for q in await qa.queued()] == ["b_0", "b_9"]
