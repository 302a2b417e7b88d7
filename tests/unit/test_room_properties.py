"""Random join / next / leave / disconnect / block sequences among many visitors (a
hypothesis state machine over the in-process lobby). After every step: no match with a
disconnected visitor, no visitor in two matches, no pair that blocked each other.

A block keeps two people apart from the moment it is made: a match that was already running
(another tab of the blocker, matched with someone behind the blocked person's address) is
not torn down, so the model only checks matches made after the block."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from signaling.room.visitor import Match, Visitor
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
        self.blocked: list[tuple[Visitor, Visitor, list[Match]]] = []
        """(blocker, blocked, matches running when the block was made)."""
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
        running = self._matches()
        self._run(self.room.send(visitor, {"type": kind}))
        if kind == "block" and partner is not None:
            self.blocked.append((visitor, partner, running))

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
            for blocker, blocked, earlier in self.blocked:
                if any(match is running for running in earlier):
                    continue
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


def test_block_keeps_apart_only_from_then_on() -> None:
    """The case hypothesis found: four tabs of one device behind one address; two pairs
    are matched, then one visitor blocks its partner. The other pair (same device as the
    blocker, same address as the blocked) keeps its call; the blocker and the blocked are
    not matched again, and nobody new is matched with the blocked person's identifiers."""
    machine = RoomMachine()
    try:
        for _ in range(4):
            machine.connect(ip="10.0.0.1", device="d_one_000000000000", same_session=False)
        for index in range(4):
            machine.join(index=index, interests=[])
        first, second, third, fourth = machine.everyone
        assert first.match is not None and first.match.partner_of(first) is second
        other = third.match
        assert other is not None and other.partner_of(third) is fourth
        machine.act(index=0, kind="block")
        assert third.match is other
        assert first.match is None and second.match is None
        assert {first.state, second.state} == {"waiting"}
        machine.no_pair_that_blocked_each_other_is_matched()
        machine.nobody_is_in_two_matches()
    finally:
        machine.teardown()
