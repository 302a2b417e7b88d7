"""Malformed, hostile and out-of-order messages get errors; other visitors are unharmed."""

from __future__ import annotations

import json

import pytest

from tests.support.caller import Caller
from tests.support.servers import DuetServer


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2, 3]", "invalid_message"),
        ('{"no_type": 1}', "invalid_message"),
        ('{"type": 42}', "invalid_message"),
        ('{"type": "hack"}', "unknown_type"),
        ('{"type": "join", "mode": "audio"}', "invalid_message"),
        ('{"type": "join", "mode": "text", "extra": 1}', "invalid_message"),
        ('{"type": "typing", "on": "yes"}', "invalid_message"),
        ('{"type": "chat", "text": "hi"}', "not_in_match"),
        ('{"type": "typing", "on": true}', "not_in_match"),
        ('{"type": "next"}', "not_joined"),
        ('{"type": "answer", "sdp": "v=0"}', "no_offer"),
        ('{"type": "candidate", "candidate": null}', "no_offer"),
        ("[" * 5000 + "]" * 5000, "bad_json"),
        (b"\x00\x01binary", "binary_not_supported"),
        ('{"type":"typing","on":' + "9" * 5_000 + "}", "bad_number"),
        ('{"type":"typing","on":1e400}', "bad_number"),
        ('{"type":"typing","on":NaN}', "bad_number"),
    ],
)
async def test_refused_messages_get_stable_error_codes(
    duet: DuetServer, callers: list[object], frame: str | bytes, code: str
) -> None:
    caller = await Caller(duet.ws_url).connect()
    callers.append(caller)
    await caller.send(frame)
    error = await caller.wait_for("error")
    assert error["code"] == code
    assert error["message"]
    # The connection stays open and usable.
    await caller.join("text")
    await caller.wait_for("queued")


async def test_oversized_message_is_refused_and_the_socket_stays_open(
    duet: DuetServer, callers: list[object]
) -> None:
    caller = await Caller(duet.ws_url).connect()
    callers.append(caller)
    await caller.send(json.dumps({"type": "chat", "text": "x" * 100_000}))
    assert (await caller.wait_for("error"))["code"] == "too_large"
    await caller.join("text")
    await caller.wait_for("queued")


async def test_bad_sdp_and_candidates_are_refused(duet: DuetServer, callers: list[object]) -> None:
    caller = await Caller(duet.ws_url).connect()
    callers.append(caller)
    # Join in video without answering automatically: send garbage answers first.
    caller._on_offer = _no_answer  # type: ignore[method-assign]
    await caller.join("video")
    await caller.wait_for("offer")
    await caller.send(
        {
            "type": "candidate",
            "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"},
        }
    )
    assert (await caller.wait_for("error"))["code"] == "bad_candidate"
    for garbage in ["candidate:1 2 3", "candidate:1 1 udp 1 127.0.0.1 99999 typ host", "x"]:
        await caller.send({"type": "candidate", "candidate": {"candidate": garbage}})
        assert (await caller.wait_for("error"))["code"] == "bad_candidate"
    await caller.send({"type": "answer", "sdp": "v=0\r\nthis is not sdp\r\n"})
    assert (await caller.wait_for("error"))["code"] == "bad_sdp"


async def test_invalid_utf8_closes_with_1007_and_logs_no_traceback(
    duet: DuetServer, callers: list[object]
) -> None:
    caller = await Caller(duet.ws_url).connect()
    callers.append(caller)
    await caller._ws.send(b"\xff\xfe{", text=True)
    await caller._ws.wait_closed()
    assert caller._ws.close_code == 1007
    await caller.reconnect()
    await caller.send("x" * 10)  # the node still answers
    assert (await caller.wait_for("error"))["code"] == "bad_json"
    assert "Traceback" not in duet.log()
    assert "not UTF-8" in duet.log()


async def _no_answer(sdp: str) -> None:
    return None


async def test_chat_too_long_and_double_join(duet: DuetServer, callers: list[object]) -> None:
    a = await Caller(duet.ws_url).connect()
    b = await Caller(duet.ws_url).connect()
    callers.extend([a, b])
    await a.join("text")
    await a.join("text")
    assert (await a.wait_for("error"))["code"] == "already_joined"
    await b.join("text")
    await a.wait_for("matched")
    await a.send({"type": "chat", "text": "y" * 1001})
    assert (await a.wait_for("error"))["code"] == "too_long"
    await a.send({"type": "chat", "text": "   "})
    assert (await a.wait_for("error"))["code"] == "invalid_message"
    assert b.count("chat") == 0


async def test_a_hostile_visitor_does_not_disturb_a_call(
    duet: DuetServer, callers: list[object]
) -> None:
    a = await Caller(duet.ws_url).connect()
    b = await Caller(duet.ws_url).connect()
    evil = await Caller(duet.ws_url).connect()
    callers.extend([a, b, evil])
    await a.join("text")
    await b.join("text")
    await a.wait_for("matched")
    for frame in [
        "{",
        "null",
        '{"type":"chat","text":"x"}',
        '{"type":"answer","sdp":""}',
        "\u0000" * 100,
    ]:
        await evil.send(frame)
    for _ in range(5):
        await evil.wait_for("error")
    await a.send({"type": "chat", "text": "still here?"})
    assert (await b.wait_for("chat"))["text"] == "still here?"
    assert b.count("error") == 0 and a.count("error") == 0
