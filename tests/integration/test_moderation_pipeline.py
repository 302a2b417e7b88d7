"""The whole moderation pipeline: a real ``duet serve``, real aiortc callers, the colour
test classifier in real worker processes (``tests.support.classifiers``)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.caller import Caller
from tests.support.servers import DuetServer, run_duet

RED, GREEN, BLUE, YELLOW = (210, 40, 40), (40, 200, 60), (40, 60, 210), (220, 210, 40)
PURPLE = (150, 40, 190)


def _env(**extra: str) -> dict[str, str]:
    return {
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
        "DUET_MODERATION__SCHEDULE_OFFSETS_S": "[0.3, 0.8, 1.5]",
        "DUET_MODERATION__PERIODIC_S": "0.5",
        "DUET_MODERATION__PARTNER_STAGGER_S": "0.1",
        "DUET_MODERATION__TAP_TIMEOUT_S": "1.0",
        "DUETTEST_UNSAFE_RGB": "210,40,40",
        "DUETTEST_MINOR_RGB": "150,40,190",
        **extra,
    }


@contextlib.contextmanager
def _moderated(tmp: Path, **extra: str) -> Iterator[DuetServer]:
    with run_duet(tmp, _env(**extra)) as server:
        _wait_workers(server)
        yield server


def _wait_workers(server: DuetServer, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary: dict[str, Any] = httpx.get(server.url + "/healthz").json()["moderation"]
        if summary["workers_ready"] >= 1:
            return summary
        time.sleep(0.1)
    raise TimeoutError("moderation workers never became ready:\n" + server.log())


def _rows(server: DuetServer, query: str) -> list[sqlite3.Row]:
    path = server.database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(query))


async def _caller(server: DuetServer, callers: list[object], rgb: tuple[int, int, int]) -> Caller:
    caller = await Caller(server.ws_url, rgb).connect()
    callers.append(caller)
    return caller


async def _pair(a: Caller, b: Caller) -> str:
    await a.join("video")
    await b.join("video")
    matched_a = await a.wait_for("matched")
    matched_b = await b.wait_for("matched")
    assert matched_a["match"] == matched_b["match"]
    return str(matched_a["match"])


async def test_flagged_caller_is_banned_with_evidence_and_cannot_return(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    with _moderated(tmp_path) as server:
        # Everyone connects first: all callers share 127.0.0.1, which the ban covers.
        red = await _caller(server, callers, RED)
        green = await _caller(server, callers, GREEN)
        blue = await _caller(server, callers, BLUE)
        yellow = await _caller(server, callers, YELLOW)
        await _pair(blue, yellow)
        await blue.wait_frames_like(YELLOW, count=5)
        match = await _pair(red, green)

        try:
            banned = await red.wait_for("banned", timeout=10)
        except TimeoutError:
            raise AssertionError(server.counters() + "\n" + server.log()[-4000:]) from None
        # How fast is a benchmark's business (`duet bench moderation`, and the fake-clock
        # unit test in test_moderator.py); here only that it happens.
        assert banned["ban"].startswith("b_") and banned["reason"]
        assert banned["until"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        left = await green.wait_for("partner_left", timeout=5)
        assert left["reason"] == "ended"  # never told why
        await green.wait_for("queued", timeout=5)
        await asyncio.sleep(0.3)
        assert red._ws.close_code == 1008  # the server closed the banned socket

        # Recorded before it was announced: the ban, its evidence, the file's SHA-256.
        (ban,) = _rows(server, "SELECT * FROM moderation_bans")
        assert ban["id"] == banned["ban"] and ban["source"] == "video"
        assert ban["visitor"] == red.visitor and ban["ip"] == "127.0.0.1"
        (evidence,) = _rows(
            server, f"SELECT * FROM moderation_evidence WHERE id='{ban['evidence_id']}'"
        )
        assert evidence["match"] == match and evidence["visitor"] == red.visitor
        image = tmp_path / "evidence" / evidence["path"]
        assert hashlib.sha256(image.read_bytes()).hexdigest() == evidence["sha256"]
        assert image.read_bytes()[:2] == b"\xff\xd8"  # JPEG
        assert (tmp_path / "evidence" / evidence["blurred_path"]).is_file()
        details = json.loads(evidence["details"])
        assert (
            details["verdict"]["unsafe"] is True and details["verdict"]["source"] == "test-colour"
        )
        assert not list((tmp_path / "evidence").rglob("*.tmp"))

        # The banned caller cannot come back.
        async with websockets.connect(server.ws_url) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["type"] == "banned" and event["ban"] == ban["id"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

        # The others are untouched: still talking, never warned or banned.
        since = time.monotonic()
        await blue.wait_frames_like(YELLOW, count=5, since=since)
        await yellow.wait_frames_like(BLUE, count=5, since=since)
        for other in (green, blue, yellow):
            assert other.count("banned") == 0
        assert blue.count("partner_left") == 0


async def test_possible_minor_in_explicit_video_is_held_and_stops_flowing_within_1s(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    # The first check comes once the call flows (so that the partner did see the video):
    # the pre-screen is off here, as for a visitor who turns explicit mid-call (with it on
    # the partner never sees the video at all: tests/integration/test_prescreen.py).
    with _moderated(
        tmp_path,
        DUET_MODERATION__SCHEDULE_OFFSETS_S="[4.0]",
        DUET_MODERATION__PRESCREEN="false",
    ) as server:
        purple = await _caller(server, callers, PURPLE)
        green = await _caller(server, callers, GREEN)
        match = await _pair(purple, green)
        await green.wait_frames_like(PURPLE, count=3, timeout=4)
        assert purple.count("held") == 0
        try:
            held = await purple.wait_for("held", timeout=10)
        except TimeoutError:
            raise AssertionError(server.counters() + "\n" + server.log()[-4000:]) from None
        assert held["released"] is False
        left = await green.wait_for("partner_left", timeout=5)
        assert left["reason"] == "ended"  # never told why
        await green.wait_for("queued", timeout=5)

        # One HIGH review item that holds the visitor, with its evidence; never a ban.
        (review,) = _rows(server, "SELECT * FROM moderation_reviews")
        assert review["priority"] == "high" and review["visitor"] == purple.visitor
        assert review["match"] == match and "minor" in review["reason"]
        assert review["hold_until"] is not None
        (evidence,) = _rows(
            server, f"SELECT * FROM moderation_evidence WHERE id='{review['evidence_id']}'"
        )
        image = tmp_path / "evidence" / evidence["path"]
        assert hashlib.sha256(image.read_bytes()).hexdigest() == evidence["sha256"]
        assert _rows(server, "SELECT * FROM moderation_bans") == []
        assert "hold.created" in [r["action"] for r in _rows(server, "SELECT * FROM audit_log")]

        # The partner stopped receiving the held visitor's video within 1 s of the verdict
        # (the evidence is written right after it; both clocks are this machine's).
        verdict_wall = datetime.fromisoformat(evidence["created_at"]).replace(tzinfo=UTC)
        verdict_at = verdict_wall.timestamp() - (time.time() - time.monotonic())
        await asyncio.sleep(1.5)
        last_purple = max(at for at, mean in green.received.colors if _close_to(mean, PURPLE))
        assert last_purple - verdict_at <= 1.0, (last_purple - verdict_at, server.log()[-3000:])
        assert green.frames_like(PURPLE, since=verdict_at + 1.0) == 0

        # Still connected, but not matched again in any mode while the hold lasts.
        for mode in ("video", "text"):
            await purple.send({"type": "join", "mode": mode})
            refused = await purple.wait_for("error", timeout=5, code="held")
            assert refused["code"] == "held"
        assert purple.count("banned") == 0 and purple.count("matched") == 1


def _close_to(mean: tuple[float, float, float], rgb: tuple[int, int, int]) -> bool:
    return max(abs(m - c) for m, c in zip(mean, rgb, strict=True)) < 40


async def test_killed_worker_is_replaced_and_calls_continue(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    with _moderated(
        tmp_path,
        DUETTEST_DELAY_S="0.4",
        DUETTEST_BUSY_DIR=str(busy),
        DUET_MODERATION__SCHEDULE_OFFSETS_S="[0.2]",
        DUET_MODERATION__PERIODIC_S="0.3",
        DUET_MODERATION__BREAKER_FAILURES="1",
        DUET_MODERATION__BREAKER_COOLOFF_S="1.0",
    ) as server:
        green = await _caller(server, callers, GREEN)
        blue = await _caller(server, callers, BLUE)
        await _pair(green, blue)
        deadline = time.monotonic() + 10
        while not list(busy.iterdir()):
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.02)
        (first,) = list(busy.iterdir())
        pid = int(first.stem)
        os.kill(pid, signal.SIGKILL)  # mid-check: each check takes 0.4 s
        killed = time.monotonic()

        # A new worker takes over and checks again; the breaker opened and closed.
        while True:
            others = [p for p in busy.iterdir() if int(p.stem) != pid]
            if others:
                break
            assert time.monotonic() - killed < 20, server.log()
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 10
        while "moderation breaker closed" not in server.log():
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.1)
        log = server.log()
        assert f"(pid {pid}) exited with code -9" in log
        assert "moderation breaker open" in log
        async with httpx.AsyncClient() as client:
            summary = (await client.get(server.url + "/healthz")).json()["moderation"]
        assert summary["worker_restarts"] == 1 and summary["workers_ready"] == 1
        assert summary["breaker"] == "closed"

        # The call went on throughout.
        await green.wait_frames_like(BLUE, count=10, since=killed)
        await blue.wait_frames_like(GREEN, count=10, since=killed)
        assert green.count("partner_left") == 0 and blue.count("partner_left") == 0


async def test_flagged_chat_is_censored_warned_and_repeated_flags_ban(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    with _moderated(
        tmp_path,
        DUET_MODERATION__TEXT__BLOCKED_WORDS='["frobnicate"]',
        DUET_MODERATION__TEXT__STRIKES_TO_BAN="2",
    ) as server:
        rude = await _caller(server, callers, GREEN)
        polite = await _caller(server, callers, BLUE)
        await rude.join("text")
        await polite.join("text")
        await rude.wait_for("matched")
        await rude.send({"type": "chat", "text": "hello\u200b there"})
        assert (await polite.wait_for("chat"))["text"] == "hello there"
        await rude.send({"type": "chat", "text": "go frobnicate yourself"})
        assert (await polite.wait_for("chat"))["text"] == "go f********* yourself"
        warning = await rude.wait_for("warning")
        assert warning["strikes"] == 1 and warning["strikes_to_ban"] == 2
        await rude.send({"type": "chat", "text": "FROBNICATE"})
        banned = await rude.wait_for("banned")
        assert "chat" in banned["reason"]
        assert (await polite.wait_for("partner_left"))["reason"] == "ended"
        assert polite.count("chat") == 2  # the banning message was not delivered
        (ban,) = _rows(server, "SELECT * FROM moderation_bans")
        assert ban["source"] == "text"
        (evidence,) = _rows(server, "SELECT * FROM moderation_evidence")
        text = (tmp_path / "evidence" / evidence["path"]).read_bytes()
        assert text == b"go frobnicate yourself\nFROBNICATE"
        assert hashlib.sha256(text).hexdigest() == evidence["sha256"]
