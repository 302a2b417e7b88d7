"""Two (and three) real aiortc callers against a real ``duet serve``."""

from __future__ import annotations

import time

from tests.support.caller import Caller, DecodeErrors
from tests.support.servers import DuetServer

RED, GREEN, BLUE = (210, 40, 40), (40, 200, 60), (40, 60, 210)


async def _caller(
    duet: DuetServer, callers: list[object], rgb: tuple[int, int, int] = RED
) -> Caller:
    caller = await Caller(duet.ws_url, rgb).connect()
    callers.append(caller)
    return caller


async def test_two_callers_see_and_hear_each_other(
    duet: DuetServer, callers: list[object], decode_errors: DecodeErrors
) -> None:
    a = await _caller(duet, callers, RED)
    b = await _caller(duet, callers, GREEN)
    await a.join("video")
    await b.join("video")
    matched_a = await a.wait_for("matched")
    matched_b = await b.wait_for("matched")
    assert matched_a["match"] == matched_b["match"]
    assert matched_a["mode"] == "video"

    # Each sees the other's picture, never its own.
    await a.wait_frames_like(GREEN, count=15)
    await b.wait_frames_like(RED, count=15)
    assert a.frames_like(RED) == 0
    assert b.frames_like(GREEN) == 0
    assert a.received.audio_frames > 10
    assert b.received.audio_frames > 10
    assert decode_errors.count == 0


async def test_next_rewires_media_without_a_new_offer(
    duet: DuetServer, callers: list[object], decode_errors: DecodeErrors
) -> None:
    a = await _caller(duet, callers, RED)
    b = await _caller(duet, callers, GREEN)
    c = await _caller(duet, callers, BLUE)
    await a.join("video")
    await b.join("video")
    await a.wait_for("matched")
    await a.wait_frames_like(GREEN, count=10)
    await c.join("video")
    await c.wait_for("queued")

    switched = time.monotonic()
    await a.send({"type": "next"})
    await b.wait_for("partner_left", reason="next")
    matched = await a.wait_for("matched")
    c_matched = await c.wait_for("matched")
    assert matched["match"] == c_matched["match"]

    # a now sees c, over the same peer connection: still exactly one offer each.
    await a.wait_frames_like(BLUE, count=10, since=switched)
    await c.wait_frames_like(RED, count=10)
    assert a.count("offer") == 1
    assert c.count("offer") == 1
    # Once c's picture arrived, b's never comes back.
    first_blue = a.first_like(BLUE, since=switched)
    assert first_blue is not None
    assert a.frames_like(GREEN, since=first_blue) == 0
    # b waits alone (its former partner is in the cooldown and taken).
    await b.wait_for("queued")
    assert decode_errors.count == 0


async def test_chat_and_typing_reach_the_partner(duet: DuetServer, callers: list[object]) -> None:
    a = await _caller(duet, callers)
    b = await _caller(duet, callers)
    await a.join("text")
    await b.join("text")
    await a.wait_for("matched", mode="text")
    await b.wait_for("matched", mode="text")
    await a.send({"type": "typing", "on": True})
    assert (await b.wait_for("typing"))["on"] is True
    hostile = "<img src=x onerror=alert(1)> héllo 👋"
    await a.send({"type": "chat", "text": hostile})
    assert (await b.wait_for("chat"))["text"] == hostile
    await b.send({"type": "chat", "text": "hi back"})
    assert (await a.wait_for("chat"))["text"] == "hi back"
    # Text visitors have no peer connection.
    assert a.count("offer") == 0


async def test_leave_tells_the_partner_and_requeues_it(
    duet: DuetServer, callers: list[object]
) -> None:
    a = await _caller(duet, callers)
    b = await _caller(duet, callers)
    await a.join("text")
    await b.join("text")
    await b.wait_for("matched")
    await a.send({"type": "leave"})
    await b.wait_for("partner_left", reason="left")
    await b.wait_for("queued")
    await a.close()
    callers.remove(a)
    c = await _caller(duet, callers)
    await c.join("text")
    assert (await b.wait_for("matched"))["match"] == (await c.wait_for("matched"))["match"]


async def test_disconnect_tells_the_partner(duet: DuetServer, callers: list[object]) -> None:
    a = await _caller(duet, callers)
    b = await _caller(duet, callers)
    await a.join("text")
    await b.join("text")
    await b.wait_for("matched")
    await a.close()
    callers.remove(a)
    await b.wait_for("partner_left", reason="disconnected")


async def test_restart_replaces_a_failed_connection_and_keeps_the_match(
    duet: DuetServer, callers: list[object]
) -> None:
    a = await _caller(duet, callers, RED)
    b = await _caller(duet, callers, GREEN)
    await a.join("video")
    await b.join("video")
    match = (await a.wait_for("matched"))["match"]
    await a.wait_frames_like(GREEN, count=5)
    first_pc = a.pc
    restarted = time.monotonic()
    await a.send({"type": "restart"})
    offer = await a.wait_for("offer", restart=True)
    assert offer["sdp"].startswith("v=0")
    # The caller answered on a new peer connection; media flows again in both directions.
    await a.wait_frames_like(GREEN, count=10, since=restarted)
    await b.wait_frames_like(RED, count=10, since=restarted)
    assert a.pc is not first_pc
    assert a.count("matched") == 1 and b.count("partner_left") == 0
    # Restarts are rate limited.
    await a.send({"type": "restart"})
    assert (await a.wait_for("error"))["code"] == "too_soon"
    text = await _caller(duet, callers)
    await text.send({"type": "restart"})
    assert (await text.wait_for("error"))["code"] == "no_offer"
    assert match
