"""Holds (a possible minor in explicit video) through the real lobby, database, audit log
and reviewer console; and the console's blurred evidence really being blurred."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from duet.person import Person
from moderation import Verdict
from moderation.records import EvidenceRecord, ReviewItem
from signaling.protocol import Join
from signaling.room.visitor import Visitor
from tests.support.console import ConsoleApp, console_app

IP = "203.0.113.9"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleApp]:
    async with console_app(tmp_path) as app:
        yield app


def _events(visitor: Visitor) -> list[dict[str, Any]]:
    """Everything queued for the visitor's socket so far (drained)."""
    events = []
    while not visitor.outbox.empty():
        text = visitor.outbox.get_nowait()
        if text is not None:
            events.append(json.loads(text))
    return events


def _detailed_frame() -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A photograph-like frame with plenty of fine detail (edges, texture)."""
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    frame[::8, :, :] = 255
    frame[:, ::8, :] = 0
    return frame


async def _evidence(console: ConsoleApp, visitor: str) -> EvidenceRecord:
    verdict = Verdict(True, True, 0.97, "explicit, young", "test", faces=1)
    writer = console.services.moderation.evidence
    return await writer.frame(visitor, "m_1", _detailed_frame(), verdict, "possible minor")


async def _text_pair(console: ConsoleApp) -> tuple[Visitor, Visitor, str]:
    lobby = console.services.lobby
    held = lobby.connect(IP, session="s_held", device="d_held")
    partner = lobby.connect("198.51.100.2", session="s_partner", device="d_partner")
    await lobby.handle(held, Join(type="join", mode="text"))
    await lobby.handle(partner, Join(type="join", mode="text"))
    assert held.match is not None and held.match is partner.match
    return held, partner, held.match.id


async def _hold(console: ConsoleApp, held: Visitor, match: str) -> ReviewItem:
    subject = Person(held.id, held.ip, held.session, held.device)
    sanctions = console.services.moderation.sanctions
    evidence = await _evidence(console, held.id)
    return await sanctions.hold(subject, match, "possible minor in explicit content", evidence, 600)


def _audit_actions(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "duet.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY seq")]


def _hold_qa(tmp_path: Path, item: ReviewItem) -> list[tuple[str, int, str | None]]:
    """The hold's automatic-action records: (status, sampled, via)."""
    with sqlite3.connect(tmp_path / "duet.sqlite3") as db:
        query = "SELECT status, sampled, via FROM qa_items WHERE kind = 'hold' AND ref = ?"
        return [tuple(row) for row in db.execute(query, (item.id,))]


async def test_a_hold_ends_the_match_and_keeps_the_visitor_out_until_overturned(
    console: ConsoleApp, tmp_path: Path
) -> None:
    lobby = console.services.lobby
    held, partner, match = await _text_pair(console)
    _events(held), _events(partner)
    item = await _hold(console, held, match)

    # The partner is told only that the match ended, and looks for someone new.
    partner_events = _events(partner)
    assert partner_events[0] == {"type": "partner_left", "reason": "ended"}
    assert partner_events[1]["type"] == "queued"
    # The held visitor is told, stays connected, and cannot join in any mode.
    (event,) = _events(held)
    assert event["type"] == "held" and event["released"] is False
    assert event["until"] == (item.hold_until or item.created_at).isoformat(timespec="seconds")
    assert held.alive and held.match is None
    for mode in ("text", "video"):
        await lobby.handle(held, Join(type="join", mode=mode))
        (refused,) = _events(held)
        assert refused["type"] == "error" and refused["code"] == "held"
        assert held.state == "idle"
    # Another tab of the same session is held too; someone else on the same IP is not
    # (a hold is not an IP ban).
    other_tab = lobby.connect("192.0.2.77", session="s_held")
    await lobby.handle(other_tab, Join(type="join", mode="text"))
    assert _events(other_tab)[-1]["code"] == "held"
    neighbour = lobby.connect(IP, session="s_neighbour", device="d_neighbour")
    await lobby.handle(neighbour, Join(type="join", mode="text"))
    assert neighbour.state in ("waiting", "matched")
    assert await console.services.moderation.active_ban(IP) is None
    assert "hold.created" in _audit_actions(tmp_path)
    # Measured precision counts holds too; reviewers decide every hold, so it is recorded
    # but never queued a second time as a QA item.
    assert _hold_qa(tmp_path, item) == [("unsampled", 0, None)]

    # Reviewers see it under its own filter; overturning releases the visitor at once.
    mo = await console.login("mo")
    holds = await console.client.get("/api/admin/queue?filter=hold", headers=mo.headers())
    assert [(i["id"], i["hold"]) for i in holds.json()["items"]] == [(item.id, True)]
    bad = await console.client.get("/api/admin/queue?filter=nope", headers=mo.headers())
    assert bad.status_code == 400 and bad.json()["error"] == "bad_filter"
    await console.client.post(
        f"/api/admin/items/review/{item.id}/open", headers=mo.headers(), json={}
    )
    decided = await console.client.post(
        f"/api/admin/items/review/{item.id}/decision",
        headers=mo.headers(),
        json={"action": "overturn", "reason": "an adult, no violation"},
    )
    assert decided.status_code == 200, decided.text
    (released,) = _events(held)
    assert released["type"] == "held" and released["released"] is True
    await lobby.handle(held, Join(type="join", mode="text"))
    assert held.state in ("waiting", "matched")
    assert _hold_qa(tmp_path, item) == [("wrong", 0, "review")]


async def test_upholding_a_hold_bans_with_the_held_evidence(
    console: ConsoleApp, tmp_path: Path
) -> None:
    held, _, match = await _text_pair(console)
    item = await _hold(console, held, match)
    mo = await console.login("mo")
    await console.client.post(
        f"/api/admin/items/review/{item.id}/open", headers=mo.headers(), json={}
    )
    decided = await console.client.post(
        f"/api/admin/items/review/{item.id}/decision",
        headers=mo.headers(),
        json={"action": "uphold", "reason": "confirmed"},
    )
    assert decided.status_code == 200, decided.text
    ban = await console.services.moderation.active_ban(IP, held.session, held.device)
    assert ban is not None and ban.evidence_id == item.evidence_id
    assert not held.alive  # removed at once with a `banned` event
    assert [e["type"] for e in _events(held)][-1] == "banned"
    assert _hold_qa(tmp_path, item) == [("correct", 0, "review")]


async def test_a_hold_expires_after_hold_max_s(console: ConsoleApp) -> None:
    held, _, match = await _text_pair(console)
    subject = Person(held.id, held.ip, held.session, held.device)
    evidence = await _evidence(console, held.id)
    await console.services.moderation.sanctions.hold(subject, match, "minor", evidence, 0.001)
    await console.services.lobby.handle(held, Join(type="join", mode="text"))
    assert held.state in ("waiting", "matched")


def _sharpness(jpeg: bytes) -> float:
    """Variance of the Laplacian: the high-frequency energy of a picture."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return float(cv2.Laplacian(image, cv2.CV_64F).var())


async def test_blurred_evidence_has_far_less_high_frequency_energy(console: ConsoleApp) -> None:
    held, _, match = await _text_pair(console)
    item = await _hold(console, held, match)
    mo = await console.login("mo")
    casefile = (
        await console.client.post(
            f"/api/admin/items/review/{item.id}/open", headers=mo.headers(), json={}
        )
    ).json()
    images = casefile["evidence"]["images"]
    original = await console.client.get(images["original"], headers=mo.headers())
    blurred = await console.client.get(images["blurred"], headers=mo.headers())
    assert original.status_code == blurred.status_code == 200
    sharp, soft = _sharpness(original.content), _sharpness(blurred.content)
    assert soft < sharp / 50, (sharp, soft)


async def test_a_ban_for_verbal_reports_is_confirmed_or_lifted_by_a_reviewer(
    console: ConsoleApp,
) -> None:
    moderation = console.services.moderation
    transcript = ["reported: you are awful", "reporter: please stop"]
    for n, action in enumerate(("uphold", "overturn")):
        subject = Person(f"v_rude{n}", f"198.51.100.{n + 10}", f"s_rude{n}", f"d_rude{n}")
        await moderation.ban_for_reports(subject, "m_1", transcript, "reported by 3", 3600)
        ban = await moderation.active_ban(subject.ip)
        assert ban is not None and ban.source == "report"
        (item,) = [r for r in await moderation.store.reviews() if r.ban_id == ban.id]
        evidence = await moderation.store.evidence(item.evidence_id)
        assert evidence is not None and evidence.kind == "text"
        path = Path(console.settings.moderation.evidence_dir) / evidence.path
        assert path.read_text() == "\n".join(transcript)
        mo = await console.login("mo")
        await console.client.post(
            f"/api/admin/items/review/{item.id}/open", headers=mo.headers(), json={}
        )
        decided = await console.client.post(
            f"/api/admin/items/review/{item.id}/decision",
            headers=mo.headers(),
            json={"action": action, "reason": "looked at the chat"},
        )
        assert decided.status_code == 200, decided.text
        after = await moderation.active_ban(subject.ip)
        if action == "uphold":
            assert after is not None and after.id == ban.id  # the same ban stands
            assert decided.json()["ban"] is None
        else:
            assert after is None and decided.json()["lifted"] == ban.id
