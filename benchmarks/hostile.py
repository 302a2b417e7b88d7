"""Hostile ``/ws`` frames: a fixed catalogue with the answer each must get, and a probe.

Shared by the integration test (``tests/integration/test_hostile_corpus.py``) and
``duet bench hostile`` (:mod:`benchmarks.hostile_bench`). Each :class:`Case` is one frame
sent on a visitor's socket in a known state (``idle``: connected, not joined; ``video``:
joined in video mode, the server's offer not answered) and the ``error`` codes the node
must answer with, in order (none for a frame it accepts silently), or the close code it
must close the socket with. :meth:`Probe.probe` sends the frame and a ``ping`` and
collects everything up to the ``pong``, so a silent acceptance is observed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import websockets

State = Literal["idle", "video"]

HOST_CANDIDATE = "candidate:1 1 udp 1 127.0.0.1 9 typ host"

NUMBERS = {
    "huge_int": "9" * 5_000,
    "long_int": "1" * 21,
    "inf_float": "1e400",
    "neg_inf_float": "-1e400",
    "nan": "NaN",
    "infinity": "Infinity",
    "long_float": "0." + "1" * 100,
}
"""JSON-ish numbers a client may send to make the parser raise (``bad_number``)."""


@dataclass(frozen=True)
class Case:
    name: str
    frame: str | bytes
    expect: tuple[str, ...] = ()
    """``error`` codes the node answers with, in order."""
    close: int | None = None
    """The node closes the socket with this code instead (then nothing else is expected)."""
    text_bytes: bool = False
    """Send ``frame`` (bytes) as a *text* frame: how invalid UTF-8 is sent."""
    state: State = "idle"


def _j(value: Any) -> str:
    return json.dumps(value)


def _catalogue() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, frame: str | bytes, *expect: str, **kw: Any) -> None:
        cases.append(Case(name, frame, tuple(expect), **kw))

    # Not JSON, not an object, no usable type.
    add("empty", "", "bad_json")
    add("garbage", "{not json", "bad_json")
    add("nul_bytes", "\u0000" * 100, "bad_json")
    add("array", "[1, 2, 3]", "invalid_message")
    add("null", "null", "invalid_message")
    add("no_type", _j({"no_type": 1}), "invalid_message")
    add("type_int", _j({"type": 42}), "invalid_message")
    add("type_list", _j({"type": ["join"]}), "invalid_message")
    add("unknown_type", _j({"type": "hack"}), "unknown_type")
    add("type_upper", _j({"type": "JOIN", "mode": "text"}), "unknown_type")
    add("type_lone_surrogate", '{"type":"\\ud800"}', "unknown_type")
    add("type_bidi", _j({"type": "\u202ejoin"}), "unknown_type")
    add("proto_pollution", _j({"type": "ping", "__proto__": {"admin": True}}), "invalid_message")
    # Nesting.
    add("nested_arrays", "[" * 30_000 + "]" * 30_000, "bad_json")
    add("nested_objects", '{"a":' * 10_000 + "1" + "}" * 10_000, "bad_json")
    add(
        "nested_in_field",
        '{"type":"join","mode":"text","interests":' + "[" * 100 + "]" * 100 + "}",
        "invalid_message",
    )
    # Numbers.
    for name, number in NUMBERS.items():
        add(f"typing_{name}", '{"type":"typing","on":' + number + "}", "bad_number")
    join_text = '{"type":"join","mode":"text","interests":['
    add("join_interest_huge_int", join_text + NUMBERS["huge_int"] + "]}", "bad_number")
    index = '{"type":"candidate","candidate":{"candidate":"x","sdpMLineIndex":'
    add("candidate_index_inf", index + "1e400}}", "bad_number")
    add("candidate_index_20_digits", index + "9" * 20 + "}}", "invalid_message")
    # Every message type with wrong types or unknown fields.
    wrong: dict[str, list[dict[str, Any]]] = {
        "join": [
            {"mode": "audio"},
            {"mode": 1},
            {"mode": "text", "interests": "music"},
            {"mode": "text", "interests": [1]},
            {"mode": "text", "interests": ["a"] * 6},
            {"mode": "text", "language": ["en"]},
            {"mode": "text", "extra": 1},
            {},
        ],
        "next": [{"now": True}],
        "leave": [{"reason": "bye"}],
        "restart": [{"restart": 1}],
        "answer": [{}, {"sdp": ""}, {"sdp": 1}, {"sdp": "x" * 60_001}],
        "candidate": [
            {},
            {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
            {"candidate": {"candidate": 5}},
            {"candidate": {"sdpMLineIndex": -1, "candidate": ""}},
        ],
        "chat": [{}, {"text": ""}, {"text": 7}, {"text": None}, {"text": ["hi"]}],
        "typing": [{}, {"on": "yes"}, {"on": 1}, {"on": None}],
        "media": [{"audio": True}, {"audio": "on", "video": True}, {"audio": 1, "video": 0}],
        "report": [
            {},
            {"reason": "boring"},
            {"reason": "spam", "comment": 5},
            {"reason": "spam", "comment": "z" * 2_001},
        ],
        "block": [{"who": "v_1"}],
        "ping": [{"payload": 1}],
    }
    for kind, variants in wrong.items():
        for n, fields in enumerate(variants):
            add(f"{kind}_wrong_{n}", _j({"type": kind, **fields}), "invalid_message")
    # Text that is not what it seems.
    add("chat_lone_surrogate", '{"type":"chat","text":"\\ud800"}', "invalid_message")
    report = '{"type":"report","reason":"spam","comment":"\\udfff"}'
    add("report_lone_surrogate", report, "invalid_message")
    invisible = _j({"type": "chat", "text": "\u202e\u200b\u2066\ufeff"})
    add("chat_only_invisible", invisible, "invalid_message")
    bidi = _j({"type": "chat", "text": "\u202eevil\u200b"})
    add("chat_bidi_not_matched", bidi, "not_in_match")
    add("chat_expanding", _j({"type": "chat", "text": "\ufdfa" * 1_000}), "too_long")
    add("chat_too_long", _j({"type": "chat", "text": "y" * 1_001}), "too_long")
    bidi = _j({"type": "join", "mode": "text", "interests": ["\u202emusic"]})
    add("join_interest_bidi", bidi, "invalid_message")
    add("join_interest_surrogate", join_text + '"\\ud800"]}', "invalid_message")
    # Out of order (the visitor has not joined).
    add("next_before_join", _j({"type": "next"}), "not_joined")
    add("chat_before_join", _j({"type": "chat", "text": "hi"}), "not_in_match")
    add("typing_before_join", _j({"type": "typing", "on": True}), "not_in_match")
    add("answer_before_offer", _j({"type": "answer", "sdp": "v=0"}), "no_offer")
    add("candidate_before_offer", _j({"type": "candidate", "candidate": None}), "no_offer")
    add("restart_before_join", _j({"type": "restart"}), "no_offer")
    add("report_nobody", _j({"type": "report", "reason": "spam"}), "not_in_match")
    add("block_nobody", _j({"type": "block"}), "not_in_match")
    add("leave_idle", _j({"type": "leave"}))
    add("media_idle", _j({"type": "media", "audio": False, "video": True}))
    # Sizes and frame types.
    add("oversize", _j({"type": "chat", "text": "x" * 100_000}), "too_large")
    add("binary", b"\x00\x01binary", "binary_not_supported")
    add("binary_json", b'{"type":"ping"}', "binary_not_supported")
    add("binary_invalid_utf8", b"\xff\xfe\xfd", "binary_not_supported")
    add("invalid_utf8_text", b'{"type":"chat","text":"\xff\xfe"}', close=1007, text_bytes=True)
    add("beyond_ws_max_size", "x" * (1_100_000), close=1009)
    # Media negotiation garbage (joined in video mode, the offer not answered yet).
    video = [
        (
            "candidate_3_fields",
            {"candidate": {"candidate": "candidate:1 2 3", "sdpMid": "0"}},
            "bad_candidate",
        ),
        (
            "candidate_bad_port",
            {"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 99999 typ host"}},
            "bad_candidate",
        ),
        (
            "candidate_bad_type",
            {"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ evil"}},
            "bad_candidate",
        ),
        ("candidate_word", {"candidate": {"candidate": "x"}}, "bad_candidate"),
        (
            "candidate_before_answer",
            {"candidate": {"candidate": HOST_CANDIDATE, "sdpMid": "0"}},
            "bad_candidate",
        ),
    ]
    for name, fields, code in video:
        add(name, _j({"type": "candidate", **fields}), code, state="video")
    garbage = _j({"type": "answer", "sdp": "v=0\r\nthis is not sdp\r\n"})
    add("answer_garbage", garbage, "bad_sdp", state="video")
    junk = _j({"type": "answer", "sdp": "\u0000\uffff" * 100})
    add("answer_binary_junk", junk, "bad_sdp", state="video")
    add("join_twice", _j({"type": "join", "mode": "video"}), "already_joined", state="video")
    return cases


CATALOGUE: tuple[Case, ...] = tuple(_catalogue())
"""Every case, ``idle`` ones first."""


@dataclass
class Outcome:
    codes: list[str] = field(default_factory=list)
    """``error`` codes received before the ``pong``."""
    events: list[str] = field(default_factory=list)
    """Types of the other events received before the ``pong``."""
    close: int | None = None

    def matches(self, case: Case) -> bool:
        if case.close is not None:
            return self.close == case.close
        return self.close is None and tuple(self.codes) == case.expect


class Probe:
    """One hostile visitor's socket, with a reader that records every event."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self.events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> Probe:
        self.ws = await websockets.connect(self.url, max_size=2**22, max_queue=None)
        self.events = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())
        welcome = await self.next_event(10)
        if welcome is None or welcome.get("type") != "welcome":
            raise ConnectionError(f"no welcome: {welcome}")
        return self

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.events.put_nowait(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.events.put_nowait(None)

    async def next_event(self, timeout: float) -> dict[str, Any] | None:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def send(self, frame: str | bytes, text_bytes: bool = False) -> None:
        if text_bytes:
            await self.ws.send(frame, text=True)
        else:
            await self.ws.send(frame)

    async def wait_for(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            event = await self.next_event(timeout)
            if event is None:
                raise ConnectionError(f"closed waiting for {kind!r}")
            if event.get("type") == kind:
                return event

    async def probe(self, case: Case, timeout: float = 10.0) -> Outcome:
        """Send ``case``'s frame and a ``ping``; what came back up to the ``pong``."""
        outcome = Outcome()
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.send(case.frame, case.text_bytes)
            await self.send(_j({"type": "ping"}))
        while True:
            event = await self.next_event(timeout)
            if event is None:
                outcome.close = self.ws.close_code
                return outcome
            kind = event.get("type")
            if kind == "pong":
                return outcome
            if kind == "error":
                outcome.codes.append(str(event.get("code")))
            else:
                outcome.events.append(str(kind))

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def run_catalogue(
    url: str, cases: Sequence[Case] = CATALOGUE, timeout: float = 10.0
) -> list[tuple[Case, Outcome]]:
    """Probe every case on sockets to ``url`` (``ws://.../ws?token=...``): a fresh socket
    whenever the node closed one, and one joined in video mode for the ``video`` cases."""
    results: list[tuple[Case, Outcome]] = []
    probe = await Probe(url).connect()
    try:
        for state in ("idle", "video"):
            if state == "video":
                await probe.close()
                probe = await Probe(url).connect()
                await probe.send(_j({"type": "join", "mode": "video"}))
                await probe.wait_for("offer", timeout)
            for case in (c for c in cases if c.state == state):
                outcome = await probe.probe(case, timeout)
                results.append((case, outcome))
                if outcome.close is not None:
                    await probe.close()
                    probe = await Probe(url).connect()
                    if state == "video":  # pragma: no cover - no video case closes
                        raise RuntimeError("a video case closed the socket")
    finally:
        await probe.close()
    return results
