"""Pre-screened video (``moderation.prescreen``): a real ``duet serve``, real aiortc callers,
the colour test classifier in real worker processes (``tests.support.classifiers``).

A new partner's video is held at the SFU until a keyframe of it was checked; the partner
of an explicit caller never receives a frame of it, a safe stream opens, and with the
breaker open it opens unchecked (fail open, counted)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx

from tests.integration.test_moderation_pipeline import (
    _caller,
    _env,
    _pair,
    _rows,
    _wait_workers,
)
from tests.support.caller import Caller
from tests.support.servers import DuetServer, run_duet

RED, GREEN, BLUE, YELLOW = (210, 40, 40), (40, 200, 60), (40, 60, 210), (220, 210, 40)
PURPLE = (150, 40, 190)


@contextlib.contextmanager
def _screening(tmp: Path, **extra: str) -> Iterator[DuetServer]:
    # Checks after the pre-screen are far away: what is seen here is the pre-screen's.
    env = _env(
        DUET_MODERATION__PRESCREEN="true",
        DUET_MODERATION__SCHEDULE_OFFSETS_S="[1.0, 60.0]",
        DUET_MODERATION__PERIODIC_S="0",
        **extra,
    )
    with run_duet(tmp, env) as server:
        _wait_workers(server)
        yield server


def _metric(server: DuetServer, name: str, **labels: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = f"{name}{{{want}}}" if labels else name
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


def _states(caller: Caller, side: str) -> list[str]:
    return [e["state"] for e in caller.events if e["type"] == "video_state" and e["side"] == side]


async def test_explicit_video_never_reaches_the_partner(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    with _screening(tmp_path) as server:
        red = await _caller(server, callers, RED)
        green = await _caller(server, callers, GREEN)
        await _pair(red, green)
        try:
            await red.wait_for("banned", timeout=10)
        except TimeoutError:
            raise AssertionError(server.counters() + "\n" + server.log()[-4000:]) from None
        await green.wait_for("partner_left", timeout=5)
        await asyncio.sleep(0.5)  # anything still in flight would arrive by now
        assert green.frames_like(RED) == 0, green.received.colors[:5]
        assert _states(green, "partner") == ["checking"]  # never told why, never opened
        assert _metric(server, "duet_moderation_prescreens_total", outcome="held") == 1

        # The ban's evidence has a clip of the video the SFU held: WebM, hashed, decodable.
        (ban,) = _rows(server, "SELECT * FROM moderation_bans")
        (evidence,) = _rows(
            server, f"SELECT * FROM moderation_evidence WHERE id='{ban['evidence_id']}'"
        )
        clip = json.loads(evidence["details"])["clip"]
        data = (tmp_path / "evidence" / clip["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == clip["sha256"] and len(data) == clip["bytes"]
        with av.open(io.BytesIO(data)) as container:
            pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert pictures, "the clip has no frames"
        mean = pictures[0].reshape(-1, 3).mean(axis=0)
        assert max(abs(m - c) for m, c in zip(mean, RED, strict=True)) < 40


async def test_held_video_of_a_possible_minor_never_shows(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    """Explicit video of a possible minor is held at the pre-screen, never banned: the
    visitor is held (the match ends, the partner is told only that it ended), and the
    partner never received a frame of that video."""
    with _screening(tmp_path) as server:
        purple = await _caller(server, callers, PURPLE)
        green = await _caller(server, callers, GREEN)
        await _pair(purple, green)
        held = await purple.wait_for("held", timeout=15)
        assert held["released"] is False
        assert (await green.wait_for("partner_left", timeout=5))["reason"] == "ended"
        await asyncio.sleep(1.0)  # anything in flight would have arrived by now
        assert green.frames_like(PURPLE) == 0
        assert purple.count("banned") == 0
        assert _states(purple, "own") == ["checking"]
        assert _metric(server, "duet_moderation_prescreens_total", outcome="held") == 1


async def test_safe_video_opens_for_each_new_partner(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    with _screening(tmp_path) as server:
        green = await _caller(server, callers, GREEN)
        blue = await _caller(server, callers, BLUE)
        await _pair(green, blue)
        await green.wait_frames_like(BLUE, count=10)
        await blue.wait_frames_like(GREEN, count=10)
        for caller in (green, blue):
            assert _states(caller, "own") == ["checking", "open"]
            assert _states(caller, "partner") == ["checking", "open"]
        # Next: a new partner, a new pre-screen of each side.
        yellow = await _caller(server, callers, YELLOW)
        await yellow.join("video")
        await green.send({"type": "next"})
        await yellow.wait_for("matched")
        since = time.monotonic()
        await yellow.wait_frames_like(GREEN, count=10, since=since)
        await green.wait_frames_like(YELLOW, count=10, since=since)
        assert _states(yellow, "partner") == ["checking", "open"]
        assert _metric(server, "duet_moderation_prescreens_total", outcome="opened") == 4
        # The pre-screen is the schedule's first check: no extra model call.
        assert _metric(server, "duet_moderation_checks_run_total") == 4


async def test_breaker_open_opens_at_once(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    with _screening(
        tmp_path,
        DUETTEST_DELAY_S="1.0",
        DUET_MODERATION__CHECK_TIMEOUT_S="0.3",
        DUET_MODERATION__BREAKER_FAILURES="1",
        DUET_MODERATION__BREAKER_COOLOFF_S="600",
        DUET_MODERATION__PRESCREEN_RETRY_S="0.2",
    ) as server:
        green = await _caller(server, callers, GREEN)
        blue = await _caller(server, callers, BLUE)
        await _pair(green, blue)
        # The checks time out, the breaker opens, and the video opens unchecked.
        await green.wait_frames_like(BLUE, count=10)
        await blue.wait_frames_like(GREEN, count=10)
        opened = _metric(
            server, "duet_moderation_prescreens_total", outcome="fail_open_breaker_open"
        )
        assert opened == 2, server.counters()
        # A new match while the breaker is open: no check is attempted at all.
        failed = _metric(server, "duet_moderation_checks_failed_total", reason="timeout")
        yellow = await _caller(server, callers, YELLOW)
        await yellow.join("video")
        await green.send({"type": "next"})
        await yellow.wait_for("matched")
        since = time.monotonic()
        await yellow.wait_frames_like(GREEN, count=10, since=since)
        assert (
            _metric(server, "duet_moderation_prescreens_total", outcome="fail_open_breaker_open")
            == 4
        )
        assert _metric(server, "duet_moderation_checks_failed_total", reason="timeout") == failed
        assert _metric(server, "duet_moderation_prescreens_total", outcome="opened") == 0


async def test_face_gate_opens_only_when_a_face_is_seen(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    """``require_face``: a caller showing a plain picture is asked for a face and its
    partner keeps waiting (text chat works); once it shows a photograph with a face
    (skimage's astronaut), the video opens."""
    from skimage.data import astronaut

    with _screening(
        tmp_path,
        DUET_MODERATION__REQUIRE_FACE="true",
        DUET_MODERATION__PRESCREEN_RETRY_S="0.3",
    ) as server:
        shy = await _caller(server, callers, GREEN)
        blue = await _caller(server, callers, BLUE)
        face = astronaut()[:320, 96:416]  # 320x320 RGB, the face in the middle
        await _pair(shy, blue)
        await shy.wait_for("video_state", side="own", state="face_required")
        await blue.wait_for("video_state", side="partner", state="waiting")
        await shy.send({"type": "chat", "text": "one moment"})
        assert (await blue.wait_for("chat"))["text"] == "one moment"
        await asyncio.sleep(1.0)  # several more checks at the bounded rate: still closed
        assert blue.frames_like(GREEN) == 0 and len(blue.received.colors) == 0
        assert _metric(server, "duet_moderation_face_gate_total", presence="no_face") >= 2
        shy.show(face)
        await blue.wait_for("video_state", side="partner", state="open", timeout=10)
        deadline = time.monotonic() + 10
        while len(blue.received.colors) < 5:
            assert time.monotonic() < deadline, server.counters()
            await asyncio.sleep(0.1)
        assert blue.frames_like(GREEN) == 0  # the plain picture was never forwarded
        assert _metric(server, "duet_moderation_face_gate_total", presence="face") == 1


async def test_safe_video_opens_through_sfu_worker_processes(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    """The gate and the screen cross the SFU cluster's RPC (``screen``, ``release``)."""
    with _screening(tmp_path, DUET_SFU__WORKERS="2") as server:
        green = await _caller(server, callers, GREEN)
        blue = await _caller(server, callers, BLUE)
        await _pair(green, blue)
        await green.wait_frames_like(BLUE, count=10, timeout=30)
        await blue.wait_frames_like(GREEN, count=10, timeout=30)
        assert _metric(server, "duet_moderation_prescreens_total", outcome="opened") == 2
