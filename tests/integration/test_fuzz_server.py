"""Hostile frames against a real ``duet serve`` over a few WebSockets, while a call runs
next door: the server stays up, malformed frames get errors, the call is undisturbed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.caller import Caller
from tests.support.hostile import hostile_frames, is_malformed
from tests.support.servers import run_duet

MAX_BYTES = 65_536
FRAMES = 2_000


def _draw_frames(count: int) -> list[str | bytes]:
    drawn: list[str | bytes] = []

    @settings(max_examples=count // 20, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.lists(hostile_frames, min_size=20, max_size=20))
    def collect(frames: list[str | bytes]) -> None:
        drawn.extend(frames)

    collect()
    return drawn


async def test_hostile_frames_against_a_real_server(tmp_path: Path, loopback_only: None) -> None:
    frames = _draw_frames(FRAMES)
    env = {
        "DUET_LIMITS__SESSIONS_PER_IP": "1000 per minute",
        "DUET_LIMITS__WS_CONNECTS_PER_IP": "1000 per minute",
        "DUET_LIMITS__HTTP_PER_IP": "100000 per minute",
    }
    with run_duet(tmp_path, env) as server:
        a, b = await Caller(server.ws_url).connect(), await Caller(server.ws_url).connect()
        try:
            await a.join("text")
            await b.join("text")
            await a.wait_for("matched")
            sent = malformed = errors = reconnects = 0
            evil: Caller | None = None
            for index, frame in enumerate(frames):
                if evil is None or evil._ws.close_code is not None:
                    if evil is not None:
                        errors += evil.count("error")
                        reconnects += 1
                        await evil.close()
                    evil = await Caller(server.ws_url).connect()
                try:
                    await evil.send(frame)
                except websockets.ConnectionClosed:
                    continue
                sent += 1
                malformed += is_malformed(frame, MAX_BYTES)
                if index % 200 == 0:
                    # The call next door still works, promptly.
                    await a.send({"type": "chat", "text": f"ping {index}"})
                    assert (await b.wait_for("chat", timeout=5))["text"] == f"ping {index}"
                    await asyncio.sleep(1.1)  # the chat limit: 5 per 5 s
            assert evil is not None
            await evil.send(json.dumps({"type": "ping"}))
            await evil.wait_for("pong", timeout=10)  # everything before it was answered
            errors += evil.count("error")
            await evil.close()
            assert sent >= FRAMES * 0.9
            assert errors >= malformed, (errors, malformed)
            assert a.count("error") == 0 and b.count("error") == 0
            health = await asyncio.to_thread(_health, server.url)
            assert health["status"] == "ok"
            assert "Traceback" not in server.log()
        finally:
            await a.close()
            await b.close()


def _health(url: str) -> dict[str, object]:
    import httpx

    result: dict[str, object] = httpx.get(url + "/healthz").json()
    return result


async def test_a_chat_flood_is_timed_out_then_disconnected_and_the_partner_stays(
    tmp_path: Path, loopback_only: None
) -> None:
    env = {"DUET_LIMITS__CHAT_VIOLATIONS_TO_DISCONNECT": "5"}
    with run_duet(tmp_path, env) as server:
        flooder, partner = (
            await Caller(server.ws_url).connect(),
            await Caller(server.ws_url).connect(),
        )
        try:
            await flooder.join("text")
            await partner.join("text")
            await flooder.wait_for("matched")
            for n in range(50):
                try:
                    await flooder.send({"type": "chat", "text": f"spam {n}"})
                except websockets.ConnectionClosed:
                    break
            first = await flooder.wait_for("error", code="rate_limited")
            assert first["retry_after"] == 10.0
            await partner.wait_for("partner_left", timeout=10)
            for _ in range(50):
                if flooder._ws.close_code is not None:
                    break
                await asyncio.sleep(0.1)
            assert flooder._ws.close_code == 1008
            assert partner.count("chat") == 5  # the first five, then nothing
            await partner.send({"type": "ping"})
            await partner.wait_for("pong")
        finally:
            await flooder.close()
            await partner.close()
