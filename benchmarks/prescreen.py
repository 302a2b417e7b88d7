"""``duet bench calls --prescreen-compare``: the pre-screen (``moderation.prescreen``) on
against off, in one run, on two nodes this command starts itself on loopback.

Each node runs moderation with a colour classifier (:func:`by_colour`: a frame whose mean
colour is the offenders' red is explicit at score 0.97, anything else is safe) in its
real worker processes, the SFU in the signaling process, evidence clips on (the default).
On each node, in turn, synthetic callers (real ``/ws`` and aiortc, live-encoding a small
solid-colour picture plus a tone; cheap enough for two shared cores) run four phases:

Three nodes run in turn: pre-screen on, off, and off without evidence clips (how nodes ran
before issue 14, the baseline for memory per call).

1. *latency*, one call at a time (every caller lives in this process: many at once would
   measure the load generator): a pair is matched (matched -> first frame of the partner,
   p50/p95), then one side presses Next to a waiting spare (Next -> first frame of the
   spare, p50). A late frame of the previous partner does not count;
2. *steady*: N calls at once for ``--duration`` s: model calls per match-minute (the
   node's ``checks_run`` over the match-minutes) and RSS per call (the node's RSS with the
   calls up minus just before, over N);
3. *offenders*: K callers sending the explicit red picture are each matched with a fresh
   partner; the partners' received frames that look red are counted (the goal with the
   pre-screen on: 0) until the offender is banned.

Durations are measured on this machine, under whatever else runs on it: report the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from benchmarks.caller import PING_EVERY_S, keep_loopback_candidates
from benchmarks.door import open_session, ws_url_with
from benchmarks.node import local_node
from benchmarks.scrape import parse_metrics
from benchmarks.tracks import ColorTrack, ToneTrack, colour_like
from duet.tasks import TaskSet
from moderation.classifiers import ClassifierConfig
from moderation.verdict import Verdict

OFFENDER_RGB = (210, 40, 40)
SAFE_RGB = ((40, 200, 60), (40, 60, 210), (220, 210, 40), (230, 230, 230))
READY_TIMEOUT_S = 60.0


# --- the classifier the nodes load (imported inside their worker processes) -------------


class ColourClassifier:
    """Explicit = the offenders' red (mean colour within ``COLOUR_TOLERANCE``); safe otherwise."""

    def __init__(self, config: ClassifierConfig) -> None:
        self.config = config

    def classify(self, frame_bgr: np.ndarray[Any, Any]) -> Verdict:
        mean = frame_bgr.reshape(-1, 3).mean(axis=0)[::-1]
        unsafe = colour_like(tuple(float(c) for c in mean), OFFENDER_RGB)  # type: ignore[arg-type]
        return Verdict(
            unsafe=unsafe,
            minor=False,
            score=0.97 if unsafe else 0.0,
            reason="offender colour" if unsafe else "safe colour",
            source="bench-colour",
        )


def by_colour(config: ClassifierConfig) -> ColourClassifier:
    return ColourClassifier(config)


# --- callers ---------------------------------------------------------------------------


class _Caller:
    """One synthetic visitor: answers offers, records events and decoded frames."""

    def __init__(self, ws_url: str, rgb: tuple[int, int, int]) -> None:
        self.ws_url = ws_url
        self.rgb = rgb
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.frames: list[tuple[float, tuple[float, float, float]]] = []
        self.pc: RTCPeerConnection | None = None
        self._ws: Any = None
        self._tasks = TaskSet()

    async def connect(self) -> _Caller:
        token = await open_session(self.ws_url)
        self._ws = await websockets.connect(ws_url_with(self.ws_url, token), max_size=2**22)
        self._spawn(self._read())
        self._spawn(self._keep_alive())
        await self.wait_for("welcome")
        return self

    async def _keep_alive(self) -> None:
        """A ping now and then: the node closes sockets that stay silent (4408)."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(PING_EVERY_S)
                await self.send({"type": "ping"})

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                event = json.loads(raw)
                self.events.append((time.monotonic(), event))
                if event["type"] == "offer":
                    self._spawn(self._answer(event["sdp"]))

    async def _answer(self, sdp: str) -> None:
        if self.pc is not None:
            await self.pc.close()
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("track", lambda track: self._spawn(self._consume(track)))
        await pc.setRemoteDescription(
            RTCSessionDescription(sdp=keep_loopback_candidates(sdp), type="offer")
        )
        pc.addTrack(ColorTrack(self.rgb))
        pc.addTrack(ToneTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "sdp": pc.localDescription.sdp})

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                mean = (float(rgb[0]), float(rgb[1]), float(rgb[2]))
                self.frames.append((time.monotonic(), mean))

    async def wait_for(self, kind: str, after: float = 0.0, timeout: float = 20.0) -> float:
        """When the first ``kind`` event at or after ``after`` arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, event in self.events:
                if at >= after and event["type"] == kind:
                    return at
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no {kind!r} event within {timeout} s")

    async def first_frame(
        self, after: float, rgb: tuple[int, int, int], timeout: float = 20.0
    ) -> float | None:
        """When the first frame of colour ``rgb`` (the partner's) arrived after ``after``
        (a late frame of the previous partner does not count)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, mean in self.frames:
                if at >= after and colour_like(mean, rgb):
                    return at
            await asyncio.sleep(0.005)
        return None

    def frames_like(self, rgb: tuple[int, int, int], after: float = 0.0) -> int:
        return sum(1 for at, mean in self.frames if at >= after and colour_like(mean, rgb))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(coro)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()
        if self.pc is not None:
            await self.pc.close()
        self._tasks.cancel()


# --- a node ----------------------------------------------------------------------------


def _workers_ready(health: dict[str, Any]) -> bool:
    moderation = health.get("moderation")
    return isinstance(moderation, dict) and int(moderation.get("workers_ready") or 0) >= 1


@contextlib.contextmanager
def _node(tmp: Path, prescreen: bool, clip_s: float) -> Iterator[str]:
    env = {
        "DUET_SFU__HOST_ADDRESSES": '["127.0.0.1"]',
        "DUET_SFU__WORKERS": "0",
        "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/duet.sqlite3",
        "DUET_LOG_LEVEL": "warning",
        "DUET_LIMITS__EXEMPT_NETWORKS": '["127.0.0.0/8"]',
        "DUET_MATCHING__REMATCH_COOLDOWN_S": "30",
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "benchmarks.prescreen:by_colour",
        "DUET_MODERATION__PRESCREEN": "true" if prescreen else "false",
        "DUET_MODERATION__EVIDENCE_DIR": str(tmp / "evidence"),
        "DUET_MODERATION__EVIDENCE_CLIP_S": str(clip_s),
    }
    with local_node(env, tmp / "duet.log", ready=_workers_ready, timeout=READY_TIMEOUT_S) as node:
        yield node.url


def _scrape(url: str) -> dict[str, float]:
    sample = parse_metrics(httpx.get(url + "/metrics", timeout=5).text, time.monotonic())
    return {
        "rss": sample.rss_bytes or 0.0,
        "checks_run": sample.total("duet_moderation_checks_run_total"),
    }


# --- one node's run ----------------------------------------------------------------------


@dataclass
class Side:
    """What one node (pre-screen on or off) measured."""

    prescreen: bool
    clip_s: float = 0.0
    first_frame_ms: list[float] = field(default_factory=list)
    next_first_frame_ms: list[float] = field(default_factory=list)
    offender_frames_seen: int = 0
    offenders_banned: int = 0
    model_calls_per_match_minute: float = 0.0
    rss_per_call_mb: float = 0.0
    missing_first_frames: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "prescreen": self.prescreen,
            "clip_s": self.clip_s,
            "first_frame_ms_p50": _quantile(self.first_frame_ms, 0.5),
            "first_frame_ms_p95": _quantile(self.first_frame_ms, 0.95),
            "next_first_frame_ms_p50": _quantile(self.next_first_frame_ms, 0.5),
            "offender_frames_seen": self.offender_frames_seen,
            "offenders_banned": self.offenders_banned,
            "model_calls_per_match_minute": round(self.model_calls_per_match_minute, 2),
            "rss_per_call_mb": round(self.rss_per_call_mb, 2),
            "missing_first_frames": self.missing_first_frames,
        }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def _pair(a: _Caller, b: _Caller) -> tuple[float, float]:
    since = time.monotonic()
    await a.send({"type": "join", "mode": "video"})
    await a.wait_for("queued", after=since)
    await b.send({"type": "join", "mode": "video"})
    return await a.wait_for("matched", after=since), await b.wait_for("matched", after=since)


async def _run_side(url: str, prescreen: bool, calls: int, offenders: int, duration: float) -> Side:
    side = Side(prescreen)
    ws_url = url.replace("http://", "ws://") + "/ws"
    callers: list[_Caller] = []
    try:
        # 1. latency, one call at a time (so that the callers, all in this process, do
        # not slow each other down): matched -> first frame of the partner, then Next to
        # a waiting spare -> first frame of the spare.
        for _ in range(calls):
            a = await _Caller(ws_url, SAFE_RGB[0]).connect()
            b = await _Caller(ws_url, SAFE_RGB[1]).connect()
            spare = await _Caller(ws_url, SAFE_RGB[2]).connect()
            callers += [a, b, spare]
            matched = await _pair(a, b)
            for caller, partner, at in zip((a, b), (b, a), matched, strict=True):
                first = await caller.first_frame(at, partner.rgb)
                if first is None:
                    side.missing_first_frames += 1
                else:
                    side.first_frame_ms.append((first - at) * 1000)
            since = time.monotonic()
            await spare.send({"type": "join", "mode": "video"})
            await spare.wait_for("queued", after=since)
            await a.send({"type": "next"})
            at = await a.wait_for("matched", after=since)
            first = await a.first_frame(at, spare.rgb)
            if first is None:
                side.missing_first_frames += 1
            else:
                side.next_first_frame_ms.append((first - at) * 1000)
            for caller in (a, b, spare):
                await caller.close()
            callers.clear()
        # 2. steady: N calls at once for ``duration`` s; model calls per match-minute and
        # memory per call.
        idle = _scrape(url)
        started = time.monotonic()
        for _ in range(calls):
            a = await _Caller(ws_url, SAFE_RGB[0]).connect()
            b = await _Caller(ws_url, SAFE_RGB[1]).connect()
            callers += [a, b]
            await _pair(a, b)
        await asyncio.sleep(duration)
        busy = _scrape(url)
        match_minutes = calls * (time.monotonic() - started) / 60
        side.model_calls_per_match_minute = (
            busy["checks_run"] - idle["checks_run"]
        ) / match_minutes
        side.rss_per_call_mb = (busy["rss"] - idle["rss"]) / calls / 1e6
        for caller in callers:
            await caller.close()
        callers.clear()
        # 4. offenders: a fresh partner each; count red frames it receives. Everyone
        # connects first: a ban covers the IP, and every caller is 127.0.0.1.
        rounds = []
        for _ in range(offenders):
            partner = await _Caller(ws_url, SAFE_RGB[3]).connect()
            offender = await _Caller(ws_url, OFFENDER_RGB).connect()
            callers += [partner, offender]
            rounds.append((partner, offender))
        for partner, offender in rounds:
            since = time.monotonic()
            await _pair(partner, offender)
            with contextlib.suppress(TimeoutError):
                await offender.wait_for("banned", after=since, timeout=15)
                side.offenders_banned += 1
            await asyncio.sleep(1.0)  # frames still in flight would arrive by now
            side.offender_frames_seen += partner.frames_like(OFFENDER_RGB, since)
            for caller in (partner, offender):
                await caller.close()
    finally:
        for caller in callers:
            await caller.close()
    return side


CONFIGURATIONS = ((True, 4.0), (False, 4.0), (False, 0.0))
"""(prescreen, evidence_clip_s) of each node: on, off, and off without clips (as before
issue 14: the baseline of RSS per call)."""


def _label(prescreen: bool, clip_s: float) -> str:
    return f"prescreen {'on' if prescreen else 'off'}, clips {clip_s:g} s"


def run_prescreen_compare(
    calls: int, offenders: int, duration: float, json_path: Path | None = None
) -> int:
    """Run the nodes in turn (:data:`CONFIGURATIONS`); print and optionally save the
    comparison. Returns the exit status (1 if an offender's partner saw its video with
    the pre-screen on, or a first frame never came)."""
    from rich.console import Console
    from rich.table import Table

    from sfu.aiortc_hooks import set_host_addresses

    if calls < 1 or offenders < 0 or duration <= 0:
        print("duet bench calls: --calls >= 1, --offenders >= 0, --duration > 0", file=sys.stderr)
        return 2
    set_host_addresses(["127.0.0.1"])
    console = Console(width=max(110, Console().width))
    sides: list[Side] = []
    for prescreen, clip_s in CONFIGURATIONS:
        with (
            tempfile.TemporaryDirectory(prefix="duet-bench-prescreen-") as tmp,
            _node(Path(tmp), prescreen, clip_s) as url,
        ):
            label = _label(prescreen, clip_s)
            console.print(f"{label}: node {url}")
            side = asyncio.run(_run_side(url, prescreen, calls, offenders, duration))
            side.clip_s = clip_s
            sides.append(side)
    table = Table(title=f"pre-screen on vs off: {calls} call(s), {offenders} offender(s)")
    table.add_column("measure")
    for prescreen, clip_s in CONFIGURATIONS:
        table.add_column(_label(prescreen, clip_s), justify="right")
    summaries = [s.summary() for s in sides]
    for key in summaries[0]:
        if key not in ("prescreen", "clip_s"):
            table.add_row(key, *(str(summary[key]) for summary in summaries))
    console.print(table)
    load = os.getloadavg()
    console.print(f"machine load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if json_path is not None:
        report = {
            "calls": calls,
            "offenders": offenders,
            "duration": duration,
            "loadavg": list(load),
            "sides": [asdict(s) | {"summary": s.summary()} for s in sides],
        }
        json_path.write_text(json.dumps(report, indent=1))
    failed = sides[0].offender_frames_seen > 0 or any(s.missing_first_frames for s in sides)
    return 1 if failed else 0
