"""Reviewers at work, in-process: claims, uphold / overturn / escalate / dismiss, appeals
from the banned visitor's side, evidence deletion, the audit trail and `duet audit verify`.

Bans, review items and evidence are made by moderation's own code (evidence writer,
sanctions, the SQL store) with real frames; reports through the Python API the room will
call (:meth:`ReportStore.file`)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from duet.person import Person
from moderation import Verdict
from moderation.records import BanRecord, EvidenceRecord, ReviewItem
from moderation.verdict import Box
from signaling.storage.reports import NewReport
from tests.support.console import ConsoleApp, Reviewer, console_app
from tests.support.servers import REPO_ROOT

SUBJECT = Person(visitor="v_bad", ip="203.0.113.9")


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleApp]:
    async with console_app(tmp_path) as app:
        yield app


async def _evidence(console: ConsoleApp, subject: Person = SUBJECT) -> EvidenceRecord:
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    frame[:, :, 2] = 210  # red (BGR)
    verdict = Verdict(
        unsafe=True,
        minor=True,
        score=0.93,
        reason="test",
        source="test",
        boxes=(Box("FACE_F", 0.9, 10, 20, 40, 50, age=15),),
        faces=1,
    )
    writer = console.services.moderation.evidence
    return await writer.frame(subject.visitor, "m_1", frame, verdict, "possible minor")


async def _review_item(console: ConsoleApp, subject: Person = SUBJECT) -> ReviewItem:
    sanctions = console.services.moderation.sanctions
    return await sanctions.review(
        subject, "m_1", "high", "possible minor", await _evidence(console, subject)
    )


async def _ban(console: ConsoleApp, subject: Person = SUBJECT) -> BanRecord:
    sanctions = console.services.moderation.sanctions
    return await sanctions.ban(subject, "explicit video", "video", 3600, await _evidence(console))


def _files(console: ConsoleApp, evidence_id: str) -> list[Path]:
    return list(Path(console.settings.moderation.evidence_dir).rglob(f"{evidence_id}*"))


async def _open(console: ConsoleApp, who: Reviewer, kind: str, item: str) -> Any:
    return await console.client.post(
        f"/api/admin/items/{kind}/{item}/open", headers=who.headers(), json={}
    )


async def _decide(
    console: ConsoleApp, who: Reviewer, kind: str, item: str, action: str, **extra: Any
) -> Any:
    body = {"action": action, "reason": f"{action} because the test says so", **extra}
    return await console.client.post(
        f"/api/admin/items/{kind}/{item}/decision", headers=who.headers(), json=body
    )


def _audit(console: ConsoleApp, tmp_path: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(tmp_path / "duet.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return list(db.execute("SELECT * FROM audit_log ORDER BY seq"))


def _verify(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"}
    return subprocess.run(
        [sys.executable, "-m", "duet.cli", "audit", "verify"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_appeal_overturned_lifts_the_ban_and_deletes_the_evidence(
    console: ConsoleApp, tmp_path: Path
) -> None:
    ban = await _ban(console)
    forgotten: list[str] = []

    async def on_lift(lifted: BanRecord) -> None:
        forgotten.append(lifted.id)

    console.services.console.banning.on_lift = on_lift
    evidence_files = _files(console, ban.evidence_id or "")
    assert len(evidence_files) == 3  # frame, blurred frame, JSON sidecar
    appeals = console.services.appeals
    assert await console.services.moderation.active_ban(SUBJECT.ip) == ban

    # The banned visitor's `banned` event carries the token; the appeal needs it.
    event = await appeals.banned_event(ban)
    assert event.appeal.status == "none" and event.appeal.token.startswith(ban.id + ".")
    forged = ban.id + "." + "A" * 32
    refused = await console.client.post(
        "/api/appeals", json={"token": forged, "text": "let me back"}
    )
    assert refused.status_code == 404
    too_long = "x" * (console.settings.admin.appeal_max_length + 1)
    refused = await console.client.post(
        "/api/appeals", json={"token": event.appeal.token, "text": too_long}
    )
    assert refused.status_code == 400 and refused.json()["error"] == "too_long"
    filed = await console.client.post(
        "/api/appeals",
        json={"token": event.appeal.token, "text": "It was a <b>red</b> wall, not me."},
    )
    assert filed.status_code == 201 and filed.json()["appeal"] == "pending"
    again = await console.client.post(
        "/api/appeals", json={"token": event.appeal.token, "text": "please"}
    )
    assert again.status_code == 409 and again.json()["error"] == "already_appealed"
    assert (await appeals.banned_event(ban)).appeal.status == "pending"

    # A moderator takes it from the queue, sees the ban and its evidence, overturns it.
    mo = await console.login("mo")
    queue = (await console.client.get("/api/admin/queue", headers=mo.headers())).json()
    (entry,) = [i for i in queue["items"] if i["kind"] == "appeal"]
    opened = await _open(console, mo, "appeal", entry["id"])
    casefile = opened.json()
    assert casefile["item"]["text"] == "It was a <b>red</b> wall, not me."
    assert casefile["ban"]["id"] == ban.id and casefile["evidence"]["id"] == ban.evidence_id
    assert casefile["evidence"]["verdict"]["boxes"][0]["age"] == 15
    image = await console.client.get(
        casefile["evidence"]["images"]["blurred"], headers=mo.headers()
    )
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    assert image.headers["cache-control"] == "no-store"
    # Only for logged-in reviewers, and never under a public path.
    anonymous = await console.client.get(casefile["evidence"]["images"]["original"])
    assert anonymous.status_code == 401
    relative = evidence_files[0].relative_to(console.settings.moderation.evidence_dir)
    for public in (f"/{relative}", f"/evidence/{relative}", f"/var/evidence/{relative}"):
        assert (await console.client.get(public)).status_code == 404, public
    decided = await _decide(console, mo, "appeal", entry["id"], "overturn")
    assert decided.status_code == 200, decided.text
    assert decided.json()["lifted"] == ban.id and decided.json()["evidence_deleted"] == 1

    # Lifted at once (and from the shared ban cache of several nodes), the evidence is gone
    # (files and record), the visitor can come back.
    assert await console.services.moderation.active_ban(SUBJECT.ip) is None
    assert forgotten == [ban.id]
    assert all(not path.exists() for path in evidence_files)
    assert await console.services.moderation.store.evidence(ban.evidence_id or "") is None
    gone = await console.client.get(casefile["evidence"]["images"]["blurred"], headers=mo.headers())
    assert gone.status_code == 404
    state = await console.client.post("/api/appeals/status", json={"token": event.appeal.token})
    assert state.json()["decision"] == "overturned" and state.json()["active"] is False
    lifted = (
        await console.client.get("/api/admin/bans?state=lifted", headers=mo.headers())
    ).json()["bans"]
    assert [b["id"] for b in lifted] == [ban.id]

    # Every step is in the audit trail, machine and human, and the chain holds.
    actions = [(row["actor"], row["action"]) for row in _audit(console, tmp_path)]
    assert ("system:moderation", "ban.created") in actions
    assert ("reviewer:mo", "appeal.overturned") in actions
    assert ("reviewer:mo", "ban.lifted") in actions
    assert ("reviewer:mo", "evidence.deleted") in actions
    assert ("reviewer:mo", "qa.wrong") in actions  # an automatic ban overturned: wrong
    recent = (await console.client.get("/api/admin/decisions", headers=mo.headers())).json()
    assert recent["decisions"][0]["action"] in ("ban.lifted", "appeal.overturned", "qa.wrong")
    result = _verify(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout


async def test_a_tampered_audit_row_is_found(console: ConsoleApp, tmp_path: Path) -> None:
    await _ban(console)
    await _review_item(console)
    mo = await console.login("mo")
    await console.client.post("/api/admin/logout", headers=mo.headers())
    rows = _audit(console, tmp_path)
    assert len(rows) >= 5
    assert _verify(tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "duet.sqlite3") as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 3")
        # Someone with the database file removes the guard and rewrites history.
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 3")
    result = _verify(tmp_path)
    assert result.returncode == 1
    assert "BROKEN at entry 3" in result.stderr and "changed" in result.stderr


async def test_opening_claims_the_item_for_one_reviewer(console: ConsoleApp) -> None:
    first = await _review_item(console)
    second = await _review_item(console, Person("v_other", "198.51.100.7"))
    mo, ada = await console.login("mo"), await console.login("ada")
    assert (await _open(console, mo, "review", first.id)).status_code == 200
    taken = await _open(console, ada, "review", first.id)
    assert taken.status_code == 409 and "mo" in taken.json()["message"]
    refused = await _decide(console, ada, "review", first.id, "overturn")
    assert refused.status_code == 409 and refused.json()["error"] == "not_claimed"
    # "Next" hands ada the other item, never mo's.
    nxt = (await console.client.post("/api/admin/queue/next", headers=ada.headers())).json()
    assert nxt["item"]["id"] == second.id
    queue = (await console.client.get("/api/admin/queue", headers=ada.headers())).json()
    claimed = {i["id"]: i["claimed_by"] for i in queue["items"]}
    assert claimed == {first.id: "mo", second.id: "ada"}
    # Released, it is free again.
    await console.client.post(f"/api/admin/items/review/{first.id}/release", headers=mo.headers())
    assert (await _open(console, ada, "review", first.id)).status_code == 200


async def test_upholding_a_review_item_bans_its_visitor(console: ConsoleApp) -> None:
    item = await _review_item(console)
    mo = await console.login("mo")
    casefile = (await _open(console, mo, "review", item.id)).json()
    assert casefile["item"]["priority"] == "high" and casefile["item"]["ip"] == SUBJECT.ip
    decided = await _decide(console, mo, "review", item.id, "uphold", duration_s=7200)
    assert decided.status_code == 200, decided.text
    ban = await console.services.moderation.active_ban(SUBJECT.ip)
    assert ban is not None and ban.id == decided.json()["ban"]
    assert ban.source == "review" and ban.created_by == "mo"
    assert ban.evidence_id == item.evidence_id
    assert 7190 < (ban.until - ban.created_at).total_seconds() <= 7200
    # Decided once: again is a conflict, and the item left the queue.
    await _open(console, mo, "review", item.id)
    again = await _decide(console, mo, "review", item.id, "overturn")
    assert again.status_code == 409
    queue = (await console.client.get("/api/admin/queue", headers=mo.headers())).json()
    assert queue["items"] == []


async def test_overturning_a_review_item_deletes_its_evidence(console: ConsoleApp) -> None:
    item = await _review_item(console)
    files = _files(console, item.evidence_id)
    assert files
    mo = await console.login("mo")
    await _open(console, mo, "review", item.id)
    decided = await _decide(console, mo, "review", item.id, "overturn")
    assert decided.status_code == 200 and decided.json()["evidence_deleted"] == 1
    assert not any(path.exists() for path in files)
    assert await console.services.moderation.active_ban(SUBJECT.ip) is None


async def test_escalated_items_are_decided_by_admins(console: ConsoleApp) -> None:
    item = await _review_item(console)
    mo, ada = await console.login("mo"), await console.login("ada")
    await _open(console, mo, "review", item.id)
    assert (await _decide(console, mo, "review", item.id, "escalate")).status_code == 200
    await _open(console, mo, "review", item.id)
    refused = await _decide(console, mo, "review", item.id, "uphold")
    assert refused.status_code == 403
    nothing = (await console.client.post("/api/admin/queue/next", headers=mo.headers())).json()
    assert nothing == {"item": None}
    await console.client.post(f"/api/admin/items/review/{item.id}/release", headers=mo.headers())
    opened = (await console.client.post("/api/admin/queue/next", headers=ada.headers())).json()
    assert opened["item"]["status"] == "escalated"
    assert (await _decide(console, ada, "review", item.id, "overturn")).status_code == 200


async def test_reports_filed_by_the_room_are_listed_and_acted_on(console: ConsoleApp) -> None:
    reports = console.services.console.reports
    harassment = await reports.file(
        NewReport(
            reporter_visitor="v_nice",
            reporter_ip="198.51.100.1",
            reported_visitor="v_rude",
            reported_ip="203.0.113.50",
            reason="harassment",
            match="m_9",
            comment="kept insulting me",
            transcript=[("reported", "<script>alert(1)</script>"), ("reporter", "stop")],
        )
    )
    spam = await reports.file(
        NewReport("v_a", "198.51.100.2", "v_spam", "203.0.113.51", "spam", comment="x" * 900)
    )
    assert harassment.priority == "normal" and len(spam.comment) == 500
    with pytest.raises(ValueError):
        await reports.file(NewReport("v_a", "1.1.1.1", "v_b", "2.2.2.2", "boring"))  # type: ignore[arg-type]
    mo = await console.login("mo")
    casefile = (await _open(console, mo, "report", harassment.id)).json()
    assert casefile["item"]["transcript"][0] == {
        "from": "reported",
        "text": "<script>alert(1)</script>",
    }
    assert (await _decide(console, mo, "report", harassment.id, "uphold")).status_code == 200
    ban = await console.services.moderation.active_ban("203.0.113.50")
    assert ban is not None and ban.source == "report" and "harassment" in ban.reason
    await _open(console, mo, "report", spam.id)
    assert (await _decide(console, mo, "report", spam.id, "dismiss")).status_code == 200
    assert await console.services.moderation.active_ban("203.0.113.51") is None
    assert (await _decide(console, mo, "report", spam.id, "overturn")).status_code == 400
    listed = (await console.client.get("/api/admin/reports", headers=mo.headers())).json()
    assert {r["id"]: r["status"] for r in listed["reports"]} == {
        harassment.id: "actioned",
        spam.id: "dismissed",
    }


async def test_manual_ban_and_unban(console: ConsoleApp) -> None:
    lifted_ids: list[str] = []

    async def on_lift(ban: BanRecord) -> None:  # (several nodes: the shared ban cache)
        lifted_ids.append(ban.id)

    console.services.console.banning.on_lift = on_lift
    mo = await console.login("mo")
    made = await console.client.post(
        "/api/admin/bans",
        json={"ip": "192.0.2.44", "duration_s": 600, "reason": "spam bot"},
        headers=mo.headers(),
    )
    assert made.status_code == 201 and made.json()["state"] == "active"
    ban_id = made.json()["id"]
    active = (await console.client.get("/api/admin/bans?state=active", headers=mo.headers())).json()
    assert [b["id"] for b in active["bans"]] == [ban_id]
    assert await console.services.moderation.active_ban("192.0.2.44") is not None
    lifted = await console.client.post(
        f"/api/admin/bans/{ban_id}/lift", json={"reason": "wrong IP"}, headers=mo.headers()
    )
    assert lifted.status_code == 200
    assert await console.services.moderation.active_ban("192.0.2.44") is None
    assert lifted_ids == [ban_id]
    twice = await console.client.post(
        f"/api/admin/bans/{ban_id}/lift", json={"reason": "wrong IP"}, headers=mo.headers()
    )
    assert twice.status_code == 409
    bad = await console.client.post(
        "/api/admin/bans", json={"duration_s": 600, "reason": "no one"}, headers=mo.headers()
    )
    assert bad.status_code == 400


async def test_dashboard_counts(console: ConsoleApp) -> None:
    await _ban(console)
    await _ban(console)
    await _review_item(console)
    mo = await console.login("mo")
    data = (await console.client.get("/api/admin/dashboard", headers=mo.headers())).json()
    assert len(data["per_hour"]["hours"]) == 24 and data["per_hour"]["bans"][-1] == 2
    assert data["repeat_offenders"] == [
        {"ip": SUBJECT.ip, "bans": 2, "last": data["repeat_offenders"][0]["last"]}
    ]
    assert data["queue"]["review"]["depth"] == 1 and data["queue"]["review"]["urgent"] == 1
    assert data["online"]["total"] == 0
    assert data["moderation"]["breaker"] == "off" and data["relay"]["share"] is None
