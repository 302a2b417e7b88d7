"""Hostile input against the room, in process: thousands of generated frames through the
same per-frame path ``/ws`` uses. Nothing raises, every malformed frame gets exactly one
``error``, and a call next door is never disturbed."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling.room.visitor import Visitor
from signaling.service.ws import process_frame
from tests.support.hostile import hostile_frames, is_malformed
from tests.support.room import Room, events, make_room

MAX_BYTES = 65_536
FRAMES_RUN = {"count": 0}


def _bystanders(room: Room, loop: asyncio.AbstractEventLoop) -> tuple[Visitor, Visitor]:
    a, b = (
        room.lobby.connect("10.1.0.1", session="s_by_a"),
        room.lobby.connect("10.1.0.2", session="s_by_b"),
    )
    for v in (a, b):
        loop.run_until_complete(room.send(v, {"type": "join", "mode": "text"}))
    assert a.match is not None and a.match is b.match
    events(a), events(b)
    return a, b


def test_ten_thousand_hostile_frames_in_process() -> None:
    loop = asyncio.new_event_loop()
    room = make_room(limits={"chat_violations_to_disconnect": 3})
    by_a, by_b = _bystanders(room, loop)
    counter = iter(range(1_000_000))

    @settings(
        max_examples=850,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(st.lists(hostile_frames, min_size=10, max_size=20))
    def run(frames: list[str | bytes]) -> None:
        n = next(counter)
        # A fresh hostile visitor, matched with an accomplice, for every batch.
        evil = room.lobby.connect("10.6.6.6", session=f"s_evil_{n}", device=f"d_evil_{n}")
        mate = room.lobby.connect("10.7.7.7", session=f"s_mate_{n}")
        loop.run_until_complete(room.send(mate, {"type": "join", "mode": "text"}))
        loop.run_until_complete(room.send(evil, {"type": "join", "mode": "text"}))
        events(evil)
        for frame in frames:
            malformed = is_malformed(frame, MAX_BYTES)
            loop.run_until_complete(process_frame(room.lobby, evil, frame, MAX_BYTES))
            FRAMES_RUN["count"] += 1
            got = events(evil)
            errors = [e for e in got if e["type"] == "error"]
            if malformed:
                assert len(errors) == 1, (frame[:200], got)
            assert all(e["code"] != "internal" for e in errors), (frame[:200], errors)
            for event in got:  # everything sent is valid JSON with a type
                assert isinstance(event["type"], str)
            if not evil.alive:
                break
        for v in (evil, mate):
            loop.run_until_complete(room.lobby.disconnect(v))
        # The call next door is untouched and still works.
        assert by_a.alive and by_b.alive and by_a.match is by_b.match is not None
        assert events(by_a) == [] and events(by_b) == []
        if n % 100 == 0:
            # The chat limit (5 per 5 s) runs on the wall clock inside the ``limits`` library,
            # so the bystanders take turns: each sends at most 5 messages in the whole run
            # (850 batches), under the limit however fast the machine is.
            talker, listener = (by_a, by_b) if n % 200 == 0 else (by_b, by_a)
            text = f"still here {n}"
            loop.run_until_complete(room.send(talker, {"type": "chat", "text": text}))
            assert [e["text"] for e in events(listener) if e["type"] == "chat"] == [text]

    try:
        run()
    finally:
        loop.run_until_complete(room.desk.close())
        loop.close()
    assert FRAMES_RUN["count"] >= 10_000
