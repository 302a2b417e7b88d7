"""Random join / next / leave / disconnect / block sequences among many visitors (a
hypothesis state machine over the in-process lobby). After every step: no match with a
disconnected visitor, no visitor in two matches, no pair that blocked each other."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from signaling.visitor import Match, Visitor
from tests.support.room import events, make_room

IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
DEVICES = ["d_one_000000000000", "d_two_000000000000", "d_three_0000000000", None]


class RoomMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.room = make_room(
            matching={"rematch_cooldown_s": 0.0, "preference_wait_s": 0.0},
            limits={"joins": "100000 per minute", "nexts": "100000 per minute"},
            blocks={"ttl_s": 1e9, "ip_ttl_s": 1e9},
        )
        self.everyone: list[Visitor] = []
        self.blocked: list[tuple[Visitor, Visitor]] = []
        """(blocker, blocked) as the model remembers them (identities, not objects)."""
        self.serial = 0

    def teardown(self) -> None:
        self.loop.run_until_complete(self.room.desk.close())
        self.loop.close()

    def _run(self, coro: Any) -> None:
        self.loop.run_until_complete(coro)
        events_of = [events(v) for v in self.everyone]  # keep outboxes from filling up
        del events_of

    def _pick(self, index: int) -> Visitor | None:
        alive = [v for v in self.everyone if v.state != "closed"]
        return alive[index % len(alive)] if alive else None

    @rule(ip=st.sampled_from(IPS), device=st.sampled_from(DEVICES), same_session=st.booleans())
    def connect(self, ip: str, device: str | None, same_session: bool) -> None:
        self.serial += 1
        # Sometimes a reconnect of an earlier session (a second tab, or coming back).
        session = f"s_{self.serial}"
        if same_session and self.everyone:
            session = self.everyone[self.serial % len(self.everyone)].session or session
        visitor = self.room.lobby.connect(ip, session=session, device=device)
        self.everyone.append(visitor)

    @rule(
        index=st.integers(0, 50), interests=st.lists(st.sampled_from(["a", "b", "c"]), max_size=2)
    )
    def join(self, index: int, interests: list[str]) -> None:
        visitor = self._pick(index)
        if visitor is not None:
            message = {"type": "join", "mode": "text", "interests": interests}
            self._run(self.room.send(visitor, message))

    @rule(index=st.integers(0, 50), kind=st.sampled_from(["next", "leave", "block"]))
    def act(self, index: int, kind: str) -> None:
        visitor = self._pick(index)
        if visitor is None:
            return
        partner = visitor.match.partner_of(visitor) if visitor.match is not None else None
        self._run(self.room.send(visitor, {"type": kind}))
        if kind == "block" and partner is not None:
            self.blocked.append((visitor, partner))

    @rule(index=st.integers(0, 50))
    def disconnect(self, index: int) -> None:
        visitor = self._pick(index)
        if visitor is not None:
            self._run(self.room.lobby.disconnect(visitor))

    @rule()
    def let_timers_run(self) -> None:
        self._run(asyncio.sleep(0.005))

    def _matches(self) -> list[Match]:
        found: dict[int, Match] = {}
        for visitor in self.room.lobby.visitors.values():
            if visitor.match is not None:
                found[id(visitor.match)] = visitor.match
        return list(found.values())

    @invariant()
    def nobody_is_matched_with_a_disconnected_visitor(self) -> None:
        for visitor in self.everyone:
            if visitor.state == "closed":
                assert visitor.match is None
                assert visitor.id not in self.room.lobby.visitors
        for match in self._matches():
            for side in (match.a, match.b):
                assert side.alive and side.state == "matched"
                assert self.room.lobby.visitors.get(side.id) is side

    @invariant()
    def nobody_is_in_two_matches(self) -> None:
        seen: set[str] = set()
        for match in self._matches():
            assert match.a is not match.b
            for side in (match.a, match.b):
                assert side.id not in seen
                assert side.match is match
                seen.add(side.id)
        waiting = {v.id for v in self.room.lobby.visitors.values() if v.state == "waiting"}
        assert not (waiting & seen)

    @invariant()
    def no_pair_that_blocked_each_other_is_matched(self) -> None:
        for match in self._matches():
            for blocker, blocked in self.blocked:
                for x, y in ((match.a, match.b), (match.b, match.a)):
                    same_blocker = x.session == blocker.session or (
                        x.device is not None and x.device == blocker.device
                    )
                    same_blocked = (
                        y.session == blocked.session
                        or (y.device is not None and y.device == blocked.device)
                        or y.ip == blocked.ip
                    )
                    assert not (same_blocker and same_blocked), (x, y, blocker, blocked)


RoomMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=60, deadline=None, database=None
)
test_room_state_machine = RoomMachine.TestCase
