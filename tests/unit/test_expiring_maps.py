"""Signaling's expiring maps (cachetools on the injected clock): each entry lives exactly
its time on the clock, and a full map forgets the least recently used entry first."""

from __future__ import annotations

from duet.person import Person
from signaling.console.throttle import Throttle
from signaling.door.limits import ChatBackoff, Suspects
from signaling.room.blocks import Blocks
from signaling.room.reports import VerbalWeights, reporter_keys
from tests.support.room import FakeClock


def test_a_chat_offence_is_kept_until_quiet_for_the_cap_after_its_timeout() -> None:
    clock = FakeClock()
    backoff = ChatBackoff(10, 300, violations_to_disconnect=10, clock=clock)
    backoff.tripped("s")  # timeout until +10; forgotten at +10 +300
    clock.advance(309.9)
    assert backoff.level("s") == 1
    assert backoff.tripped("s").retry_after == 20  # remembered: the next timeout doubles
    clock.advance(20 + 300)
    assert backoff.level("s") == 0
    assert backoff.tripped("s").retry_after == 10


def test_a_full_backoff_forgets_the_least_recently_offending_key() -> None:
    clock = FakeClock()
    backoff = ChatBackoff(10, 300, violations_to_disconnect=10, clock=clock, max_keys=2)
    backoff.tripped("a"), backoff.tripped("b")
    clock.advance(11)
    backoff.tripped("a")  # "a" offended last
    backoff.tripped("c")
    assert backoff.level("a") == 2 and backoff.level("c") == 1 and backoff.level("b") == 0


def test_a_suspect_is_marked_for_exactly_its_ttl_from_the_last_mark() -> None:
    clock = FakeClock()
    suspects = Suspects(ttl=60, clock=clock, max_size=10)
    suspects.mark("ip:1")
    clock.advance(30)
    suspects.mark("ip:1")
    clock.advance(59.9)
    assert suspects.any("ip:1")
    clock.advance(0.1)
    assert not suspects.any("ip:1") and len(suspects) == 0


def test_a_full_suspect_map_forgets_the_least_recently_marked() -> None:
    clock = FakeClock()
    suspects = Suspects(ttl=60, clock=clock, max_size=2)
    suspects.mark("a", "b")
    suspects.mark("a")
    suspects.mark("c")
    assert suspects.any("a") and suspects.any("c") and not suspects.any("b")


def test_each_new_chat_offence_restarts_the_quiet_period() -> None:
    clock = FakeClock()
    backoff = ChatBackoff(10, 300, violations_to_disconnect=10, clock=clock)
    backoff.tripped("s")
    clock.advance(200)
    backoff.tripped("s")  # timeout until +220; remembered until +520
    clock.advance(319.9)
    assert backoff.level("s") == 2
    clock.advance(0.1)
    assert backoff.level("s") == 0


def test_a_login_lockout_outlives_the_failure_window_then_is_forgotten() -> None:
    clock = FakeClock()
    throttle = Throttle(limit=2, window=60, lockout=300, clock=clock)
    throttle.failed("x")
    assert throttle.failed("x")  # locked for 300 s, longer than the window
    clock.advance(299.9)
    assert throttle.retry_after("x") > 0
    clock.advance(0.1)
    assert throttle.retry_after("x") == 0 and len(throttle._keys) == 0


def test_failures_count_within_the_window_and_are_forgotten_after_it() -> None:
    clock = FakeClock()
    throttle = Throttle(limit=3, window=60, lockout=30, clock=clock)
    throttle.failed("x"), throttle.failed("x")
    clock.advance(59.9)
    assert throttle.failed("x")  # the first two are still in the window
    clock.advance(30)
    throttle.failed("y")
    clock.advance(60)
    assert len(throttle._keys) == 0


def test_a_reported_person_is_forgotten_a_window_after_the_last_report() -> None:
    clock = FakeClock()
    weights = VerbalWeights(window_s=100, clock=clock)
    weights.add("t", reporter_keys("s_1", "d_1", "1.1.1.1"))
    clock.advance(50)
    assert weights.add("t", reporter_keys("s_2", "d_2", "2.2.2.2")) == 2
    clock.advance(99.9)
    assert weights.add("u", reporter_keys("s_3", "d_3", "3.3.3.3")) == 1
    assert "t" in weights._reports
    clock.advance(0.1)
    assert "t" not in weights._reports


A = Person("v", "10.0.0.1", "s_a", "d_a")
B = Person("v", "10.0.0.2", "s_b", "d_b")
B_NEW_SESSION = Person("v", "10.0.0.2", "s_b2", "d_b2")


def test_each_part_of_a_block_lives_its_own_time_then_the_blocker_is_forgotten() -> None:
    clock = FakeClock()
    blocks = Blocks(ttl_s=1_000, ip_ttl_s=10, clock=clock)
    blocks.block(A, B)
    clock.advance(9.9)
    assert not blocks.allows(A, B_NEW_SESSION)  # same IP, within ip_ttl_s
    clock.advance(0.1)
    assert blocks.allows(A, B_NEW_SESSION) and not blocks.allows(A, B)
    clock.advance(989.9)
    assert not blocks.allows(B, A)  # either way round
    clock.advance(0.1)
    assert blocks.allows(A, B) and len(blocks._by_blocker) == 0


def test_blocking_again_restarts_the_block() -> None:
    clock = FakeClock()
    blocks = Blocks(ttl_s=100, ip_ttl_s=10, clock=clock)
    blocks.block(A, B)
    clock.advance(60)
    blocks.block(A, B)
    clock.advance(99.9)
    assert not blocks.allows(A, B)
    clock.advance(0.1)
    assert blocks.allows(A, B)
