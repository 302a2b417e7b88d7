"""``duet bench hostile``: the hostile catalogue, then a random mix, against any node.

First the fixed catalogue (:data:`benchmarks.hostile.CATALOGUE`) is probed once, each
answer compared with the expected one. Then ``sockets`` visitors send ``messages`` frames
in all, drawn from a seeded random mix (catalogue frames that do not close the socket,
plus generated ones: random types and fields holding hostile values, random bytes, random
text), reading every answer as it comes. Meanwhile ``/healthz`` is polled and timed.

Bounded: at most ``messages`` frames and ``max_seconds`` of sending. Reported: answers by
``error`` code, other events by type, closes by code, the ``internal`` count, catalogue
mismatches, and ``/healthz`` latency. The run fails (exit 1) on any ``internal``, any
catalogue mismatch, or a health failure (a non-200 answer or none within
``health_timeout_s``). A node on another host needs this client's address in
``limits.exempt_networks`` (or the per-IP limits raised), as for the other load tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from benchmarks.door import http_base, open_session, ws_url_with
from benchmarks.hostile import CATALOGUE, NUMBERS, run_catalogue
from benchmarks.stats import Summary
from signaling.protocol import Ping, ProtocolError, parse_client_message

HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, 2**63, 1.5, "", " ", "video", "text", "spam", "<script>", "\u202e",
    "\u200b" * 50, "\ufdfa" * 100, "x" * 2_000, [], {}, [[[]]], {"a": {"b": {}}}, ["a"] * 10,
]  # fmt: skip
"""Field values for generated frames (raw numbers from NUMBERS are spliced in as text)."""
FIELDS = ["mode", "sdp", "candidate", "text", "on", "audio", "video", "reason", "comment",
          "interests", "language", "restart", "extra", "__proto__"]  # fmt: skip
TYPES = ["join", "next", "leave", "restart", "answer", "candidate", "chat", "typing",
         "media", "report", "block", "ping", "", "JOIN", "admin"]  # fmt: skip


@dataclass(frozen=True)
class HostileOptions:
    url: str
    messages: int = 100_000
    sockets: int = 10
    max_seconds: float = 300.0
    seed: int = 1
    health_every_s: float = 0.25
    health_timeout_s: float = 2.0
    json_path: Path | None = None

    def __post_init__(self) -> None:
        if self.messages < 1 or self.sockets < 1 or self.max_seconds <= 0:
            raise ValueError("--messages, --sockets and --max-seconds must be positive")

    @property
    def ws_url(self) -> str:
        base = self.url.rstrip("/")
        return base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"


@dataclass
class Tally:
    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    """``error`` events by code."""
    events: Counter[str] = field(default_factory=Counter)
    """Other events by type."""
    closes: Counter[str] = field(default_factory=Counter)
    """Sockets the node closed, by close code (``none``: no close frame)."""
    reconnects: int = 0
    last_event_at: float = field(default_factory=time.monotonic)
    """When the node last sent anything (on any socket)."""
    unanswered_sockets: int = 0
    """Sockets that gave up waiting for the answers to their frames (a failure)."""


def random_frame(rng: random.Random, max_bytes: int = 65_536) -> str | bytes:
    """One frame of the random mix (never one that makes the node close the socket)."""
    roll = rng.random()
    if roll < 0.35:
        case = rng.choice(_SAFE_CASES)
        return case.frame
    if roll < 0.45:
        return rng.randbytes(rng.randint(0, 200))
    if roll < 0.5:
        return "".join(chr(rng.randint(1, 0xD7FF)) for _ in range(rng.randint(0, 80)))
    if roll < 0.51:
        return json.dumps({"type": "chat", "text": "x" * (max_bytes + 10)})
    message: dict[str, Any] = {"type": rng.choice(TYPES)}
    for name in rng.sample(FIELDS, rng.randint(0, 3)):
        message[name] = rng.choice(HOSTILE_VALUES)
    text = json.dumps(message, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.3:  # splice a raw hostile number into the first field
        number = rng.choice(list(NUMBERS.values()))
        text = text.replace(":", ":" + number + ',"_":', 1) if ":" in text else text
    return text


PING = json.dumps({"type": "ping"})
WINDOW = 100
"""Frames between two of the bench's own pings on a socket (its flow control)."""
ANSWER_TIMEOUT_S = 30.0
"""A socket still waiting for answers gives up once the node sent nothing for this long."""

_SAFE_CASES = [c for c in CATALOGUE if c.close is None and c.state == "idle"]


def is_ping(frame: str | bytes) -> bool:
    """Whether the node answers ``frame`` with a ``pong`` (its own parser decides)."""
    try:
        return isinstance(parse_client_message(frame), Ping)
    except ProtocolError:
        return False


@dataclass
class _Socket:
    pongs: int = 0
    pong_seen: asyncio.Event = field(default_factory=asyncio.Event)


async def _visitor(
    ws_url: str, token: str, frames: list[str | bytes], tally: Tally, deadline: float
) -> None:
    """Send ``frames`` on one socket (reconnecting if the node closes it), reading all.

    After the last frame, a ``ping``: the node answers in order, so once as many ``pong``
    came as pings were sent, every frame was answered (however far behind the node was)."""
    pending = list(reversed(frames))
    while pending and time.monotonic() < deadline:
        try:
            ws = await websockets.connect(ws_url_with(ws_url, token), max_size=2**22)
        except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake) as exc:
            tally.closes[f"connect_failed:{type(exc).__name__}"] += 1
            await asyncio.sleep(1.0)
            continue
        state = _Socket()
        reader = asyncio.ensure_future(_read(ws, tally, state))
        pings = sent = 0
        try:
            while pending and time.monotonic() < deadline:
                frame = pending.pop()
                await ws.send(frame)
                tally.sent += 1
                sent += 1
                pings += is_ping(frame)
                if sent % WINDOW == 0:
                    # Keep at most ~2 windows unanswered: as fast as the node answers,
                    # without a backlog that would hold its keepalive pongs up (1011).
                    await ws.send(PING)
                    pings += 1
                    while state.pongs < pings - 2 and not reader.done():
                        state.pong_seen.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(state.pong_seen.wait(), 1.0)
            await ws.send(PING)
            pings += 1
            while state.pongs < pings and not reader.done():
                state.pong_seen.clear()
                quiet = time.monotonic() - tally.last_event_at
                if quiet > ANSWER_TIMEOUT_S:
                    tally.unanswered_sockets += 1
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.pong_seen.wait(), 1.0)
        except websockets.ConnectionClosed:
            pass
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(reader, 5.0)
        if pending:
            tally.reconnects += 1


async def _read(ws: Any, tally: Tally, state: _Socket) -> None:
    """Count what the node answers, until the socket closes."""
    try:
        async for raw in ws:
            tally.last_event_at = time.monotonic()
            event = json.loads(raw)
            kind = str(event.get("type"))
            if kind == "error":
                tally.answers[str(event.get("code"))] += 1
            else:
                tally.events[kind] += 1
            if kind == "pong":
                state.pongs += 1
                state.pong_seen.set()
    except websockets.ConnectionClosed:
        pass
    protocol = ws.protocol
    if protocol.close_rcvd is None:
        if protocol.close_sent is None:  # the node dropped the connection: no close frame
            tally.closes["none"] += 1
        return
    if protocol.close_rcvd_then_sent:  # the node closed it (we only answered)
        tally.closes[str(protocol.close_rcvd.code)] += 1


@dataclass
class Health:
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _poll_health(url: str, every: float, timeout: float, stop: asyncio.Event) -> Health:
    health = Health()
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = await client.get("/healthz")
                elapsed = (time.monotonic() - started) * 1000
                health.latencies_ms.append(elapsed)
                if response.status_code != 200:
                    health.failures.append(f"/healthz answered {response.status_code}")
            except httpx.HTTPError as exc:
                health.failures.append(f"/healthz failed: {type(exc).__name__}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    return health


def verdict(mismatches: list[str], internal: int, health: Health) -> list[str]:
    """Why the run failed (empty: it passed)."""
    failures = list(mismatches)
    if internal:
        failures.append(f"{internal} answer(s) 'internal'")
    failures += sorted(set(health.failures))
    if not health.latencies_ms:
        failures.append("/healthz never answered")
    return failures


async def run_async(options: HostileOptions) -> dict[str, Any]:
    """Run the bench; the report as a JSON-ready dict (``ok``: whether it passed)."""
    base = options.url.rstrip("/")
    ws_url = options.ws_url
    token = await open_session(ws_url)
    stop = asyncio.Event()
    poller = asyncio.ensure_future(
        _poll_health(base, options.health_every_s, options.health_timeout_s, stop)
    )
    started = time.monotonic()
    catalogue = await run_catalogue(ws_url_with(ws_url, token))
    mismatches = [
        f"catalogue {case.name}: expected {case.close or case.expect}, "
        f"got codes {outcome.codes} close {outcome.close}"
        for case, outcome in catalogue
        if not outcome.matches(case)
    ]
    catalogue_s = time.monotonic() - started

    rng = random.Random(options.seed)
    frames = [random_frame(rng) for _ in range(options.messages)]
    tally = Tally()
    deadline = time.monotonic() + options.max_seconds
    tokens = [token] + [await open_session(ws_url) for _ in range(min(options.sockets, 5) - 1)]
    mix_started = time.monotonic()
    await asyncio.gather(
        *(
            _visitor(ws_url, tokens[i % len(tokens)], frames[i :: options.sockets], tally, deadline)
            for i in range(options.sockets)
        )
    )
    mix_s = max(tally.last_event_at - mix_started, 1e-9)  # to the last answer
    stop.set()
    health = await poller
    internal = tally.answers.get("internal", 0) + sum(
        o.codes.count("internal") for _, o in catalogue
    )
    failures = verdict(mismatches, internal, health)
    if tally.unanswered_sockets:
        failures.append(f"{tally.unanswered_sockets} socket(s) never got all their answers")
    return {
        "benchmark": "hostile",
        "url": base,
        "args": {
            "messages": options.messages,
            "sockets": options.sockets,
            "max_seconds": options.max_seconds,
            "seed": options.seed,
        },
        "catalogue": {
            "cases": len(catalogue),
            "mismatches": mismatches,
            "seconds": round(catalogue_s, 2),
        },
        "mix": {
            "frames_planned": options.messages,
            "frames_sent": tally.sent,
            "seconds": round(mix_s, 2),
            "frames_per_s": round(tally.sent / mix_s, 1),
            "answered": sum(tally.answers.values()) + sum(tally.events.values()),
            "answers_by_code": dict(tally.answers.most_common()),
            "events_by_type": dict(tally.events.most_common()),
            "closes_by_code": dict(tally.closes.most_common()),
            "reconnects": tally.reconnects,
            "unanswered_sockets": tally.unanswered_sockets,
        },
        "internal": internal,
        "healthz_ms": Summary.of(health.latencies_ms).pick("p50", "p95", "max")
        if health.latencies_ms
        else None,
        "healthz_checks": len(health.latencies_ms),
        "failures": failures,
        "ok": not failures,
    }


def render(report: dict[str, Any]) -> str:
    mix = report["mix"]
    health = report["healthz_ms"] or {}
    lines = [
        f"duet bench hostile against {report['url']}",
        f"catalogue: {report['catalogue']['cases']} cases, "
        f"{len(report['catalogue']['mismatches'])} mismatch(es), "
        f"{report['catalogue']['seconds']} s",
        f"mix: {mix['frames_sent']} of {mix['frames_planned']} frames sent and answered "
        f"({mix['answered']} events) in {mix['seconds']} s ({mix['frames_per_s']} frames/s) "
        f"on {report['args']['sockets']} sockets, {mix['reconnects']} reconnect(s)",
        "answers by code: " + _counts(mix["answers_by_code"]),
        "other events: " + _counts(mix["events_by_type"]),
        "closes by code: " + (_counts(mix["closes_by_code"]) or "none"),
        f"internal: {report['internal']}",
        f"/healthz: {report['healthz_checks']} checks, p50 {health.get('p50')} ms, "
        f"p95 {health.get('p95')} ms, max {health.get('max')} ms",
    ]
    if report["failures"]:
        lines.append("FAILED:\n  " + "\n  ".join(report["failures"][:20]))
    else:
        lines.append("ok")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def run_hostile(options: HostileOptions) -> int:
    """CLI entry: run, print, write the JSON; 0 if it passed, 1 if not."""
    report = asyncio.run(run_async(options))
    print(render(report))
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


__all__ = ["HostileOptions", "http_base", "run_async", "run_hostile"]
