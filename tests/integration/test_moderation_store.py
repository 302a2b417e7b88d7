"""Moderation records in SQLite and PostgreSQL: save in one transaction, active bans by
IP / session / device, the reviewers' queue order, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from moderation.records import BanRecord, EvidenceRecord, ReviewItem
from signaling.storage import Database, SqlModerationStore
from signaling.storage.tables import AppealRow
from tests.integration.test_storage import db, postgres  # noqa: F401  (fixtures)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def evidence(evidence_id: str, at: datetime = NOW) -> EvidenceRecord:
    return EvidenceRecord(
        id=evidence_id,
        kind="frame",
        visitor="v_1",
        match="m_1",
        created_at=at,
        path=f"2026-11-21/{evidence_id}.jpg",
        sha256="ab" * 32,
        blurred_path=f"2026-11-21/{evidence_id}.blur.jpg",
        reason="explicit",
        details={"verdict": {"score": 0.9, "boxes": [{"label": "X", "x": 1}]}},
    )


async def test_bans_cover_ip_session_and_device(db: Database) -> None:  # noqa: F811
    store = SqlModerationStore(db)
    ban = BanRecord(
        id="b_1",
        visitor="v_1",
        ip="203.0.113.5",
        session="s_1",
        device=None,
        reason="explicit",
        source="video",
        created_at=NOW,
        until=NOW + timedelta(hours=1),
        evidence_id="e_1",
    )
    await store.save(evidence("e_1"), ban=ban)
    assert await store.active_ban(NOW, "203.0.113.5") == ban
    assert await store.active_ban(NOW, "198.51.100.1", session="s_1") == ban
    assert await store.active_ban(NOW, "198.51.100.1", device="d_1") is None
    assert await store.active_ban(NOW + timedelta(hours=2), "203.0.113.5") is None
    saved = await store.evidence("e_1")
    assert saved == evidence("e_1")
    assert [b.id for b in await store.bans()] == ["b_1"]


async def test_review_queue_is_high_first_then_oldest(db: Database) -> None:  # noqa: F811
    store = SqlModerationStore(db)
    for index, priority in enumerate(["normal", "high", "normal", "high"]):
        item = ReviewItem(
            id=f"r_{index}",
            visitor="v_1",
            match="m_1",
            priority=priority,  # type: ignore[arg-type]
            reason="possible minor",
            created_at=NOW + timedelta(seconds=index),
            evidence_id=f"e_{index}",
        )
        await store.save(evidence(f"e_{index}"), review=item)
    assert [r.id for r in await store.reviews()] == ["r_1", "r_3", "r_0", "r_2"]


async def test_retention_deletes_old_evidence_and_unlinks_bans(db: Database) -> None:  # noqa: F811
    store = SqlModerationStore(db)
    old = evidence("e_old", NOW - timedelta(days=100))
    ban = BanRecord("b_1", "v", "1.2.3.4", None, None, "r", "video", NOW, NOW, "e_old")
    await store.save(old, ban=ban)
    await store.save(evidence("e_new"))
    expired = await store.evidence_before(NOW - timedelta(days=90))
    assert [e.id for e in expired] == ["e_old"]
    await store.delete_evidence([e.id for e in expired])
    assert await store.evidence("e_old") is None and await store.evidence("e_new") is not None
    assert (await store.bans())[0].evidence_id is None


async def test_retention_keeps_evidence_of_undecided_cases(db: Database) -> None:  # noqa: F811
    """Holds and open review items keep their evidence until decided, and so does a ban
    whose appeal is pending; decided cases' old evidence goes."""
    store = SqlModerationStore(db)
    old = NOW - timedelta(days=100)
    hold = ReviewItem(
        "r_hold", "v_1", "m_1", "high", "possible minor", old, "e_hold", hold_until=NOW
    )
    await store.save(evidence("e_hold", old), review=hold)
    await store.save(
        evidence("e_open", old),
        review=ReviewItem("r_open", "v_1", "m_1", "normal", "borderline", old, "e_open"),
    )
    decided = ReviewItem("r_done", "v_1", "m_1", "normal", "x", old, "e_done", status="upheld")
    await store.save(evidence("e_done", old), review=decided)
    for ban_id in ("b_appealed", "b_plain"):
        ban = BanRecord(ban_id, "v", "1.2.3.4", None, None, "r", "video", old, NOW, "e_" + ban_id)
        await store.save(evidence("e_" + ban_id, old), ban=ban)
    async with db.sessions() as session, session.begin():
        session.add(
            AppealRow(id="a_1", ban_id="b_appealed", created_at=old, ip="1.2.3.4", text="t")
        )
    expired = await store.evidence_before(NOW - timedelta(days=90))
    assert sorted(e.id for e in expired) == ["e_b_plain", "e_done"]
