"""The pure matchmaker: pairing on arrival, cooldowns, removal, compatibility."""

from __future__ import annotations

from signaling.room.matching import Matchmaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(cooldown: float = 10.0) -> tuple[Matchmaker, FakeClock]:
    clock = FakeClock()
    return Matchmaker(clock=clock, rematch_cooldown=cooldown), clock


def test_first_waits_second_pairs_on_arrival() -> None:
    mm, _ = make()
    assert mm.enqueue("a", "video") is None
    assert mm.waiting("video") == 1
    assert mm.enqueue("b", "video") == "a"
    assert mm.waiting("video") == 0


def test_modes_have_separate_queues() -> None:
    mm, _ = make()
    assert mm.enqueue("a", "video") is None
    assert mm.enqueue("b", "text") is None
    assert mm.waiting("video") == 1 and mm.waiting("text") == 1
    assert mm.enqueue("c", "text") == "b"


def test_longest_waiting_is_paired_first() -> None:
    mm, clock = make()
    mm.parted("x", "a")  # a is ineligible for x only
    assert mm.enqueue("a", "text") is None
    clock.now += 1
    assert mm.enqueue("b", "text") == "a"
    assert mm.enqueue("c", "text") is None
    clock.now += 1
    assert mm.enqueue("d", "text") == "c"
    assert mm.waiting("text") == 0


def test_leave_while_waiting() -> None:
    mm, _ = make()
    mm.enqueue("a", "video")
    assert mm.remove("a") is True
    assert mm.remove("a") is False
    assert mm.enqueue("b", "video") is None


def test_no_immediate_repair_while_someone_else_waits() -> None:
    mm, _ = make(cooldown=10)
    # a pressed Next on b: b is re-queued first, c is also waiting.
    assert mm.enqueue("c", "video") is None
    mm.parted("a", "b")
    assert mm.enqueue("b", "video") == "c"
    assert mm.enqueue("a", "video") is None
    # b comes back while a waits: they just parted, so b waits too.
    assert mm.enqueue("b", "video") is None
    assert mm.waiting("video") == 2
    assert mm.enqueue("d", "video") == "a"
    assert mm.waiting("video") == 1


def test_newcomer_skips_a_recent_partner_for_the_next_in_line() -> None:
    mm, _ = make()
    mm.parted("a", "p")
    assert mm.enqueue("p", "video") is None
    assert mm.enqueue("q", "video") == "p"
    assert mm.enqueue("p", "video") is None
    assert mm.enqueue("r", "video") == "p"
    # Queue: p is waiting again, then the recently parted a arrives.
    assert mm.enqueue("p", "video") is None
    assert mm.enqueue("a", "video") is None  # not paired with p
    assert mm.enqueue("s", "video") == "p"  # the first in line goes first
    assert mm.enqueue("t", "video") == "a"


def test_recent_partners_wait_for_the_cooldown_then_pair() -> None:
    mm, clock = make(cooldown=10)
    mm.parted("a", "b")
    assert mm.enqueue("a", "video") is None
    assert mm.enqueue("b", "video") is None
    assert mm.waiting("video") == 2
    assert mm.retry_in("b") == 10
    clock.now += 4
    assert mm.retry_in("b") == 6
    assert mm.try_pair("b") is None
    clock.now += 6.01
    assert mm.try_pair("b") == "a"
    assert mm.waiting("video") == 0


def test_retry_in_is_none_when_nobody_is_held_back() -> None:
    mm, _ = make()
    assert mm.enqueue("a", "video") is None
    assert mm.retry_in("a") is None
    assert mm.retry_in("nobody") is None


def test_compatibility_rule_is_respected() -> None:
    blocked = {frozenset(("a", "b"))}
    mm = Matchmaker(clock=FakeClock(), compatible=lambda x, y: frozenset((x, y)) not in blocked)
    mm.enqueue("a", "text")
    assert mm.enqueue("b", "text") is None
    assert mm.enqueue("c", "text") == "a"
    assert mm.enqueue("d", "text") == "b"


def test_requeue_moves_to_the_new_mode() -> None:
    mm, _ = make()
    mm.enqueue("a", "video")
    mm.enqueue("a", "text")
    assert mm.waiting("video") == 0
    assert mm.waiting("text") == 1


def test_forget_drops_cooldowns() -> None:
    mm, _ = make()
    mm.parted("a", "b")
    mm.forget("a")
    mm.enqueue("a", "video")
    assert mm.enqueue("b", "video") == "a"


def test_shared_interest_is_preferred_over_the_queue_order() -> None:
    mm, _ = make()
    assert mm.enqueue("a", "text", interests=["chess"]) is None
    assert mm.enqueue("b", "text", interests=["music"]) is None
    assert mm.enqueue("c", "text", interests=["music", "art"]) == "b"
    assert mm.enqueue("d", "text", interests=["chess"]) == "a"


def test_interests_fall_back_to_anyone_after_the_wait() -> None:
    mm, clock = make()
    mm.preference_wait = 5
    assert mm.enqueue("a", "text", interests=["chess"]) is None
    assert mm.enqueue("b", "text") is None  # a holds out for chess
    assert mm.retry_in("a") == 5
    assert mm.retry_in("b") is None  # nothing changes for b by itself
    clock.now += 5
    assert mm.try_pair("a") == "b"


def test_a_visitor_without_preferences_is_taken_once_the_other_gave_up_waiting() -> None:
    mm, clock = make()
    mm.preference_wait = 5
    mm.enqueue("a", "text", interests=["chess"])
    clock.now += 6
    assert mm.enqueue("b", "text") == "a"


def test_language_is_a_soft_filter_too() -> None:
    mm, clock = make()
    mm.preference_wait = 5
    assert mm.enqueue("a", "video", language="pt") is None
    assert mm.enqueue("b", "video", language="en") is None
    assert mm.enqueue("c", "video") == "a"  # no language: anyone's fine, a accepts c
    assert mm.enqueue("d", "video", language="en") == "b"
    mm.enqueue("e", "video", language="fr")
    mm.enqueue("f", "video", language="de")
    clock.now += 5
    assert mm.try_pair("e") == "f"


def test_interests_and_language_both_have_to_match_while_waiting() -> None:
    mm, _ = make()
    mm.enqueue("a", "text", interests=["chess"], language="en")
    assert mm.enqueue("b", "text", interests=["chess"], language="es") is None
    assert mm.enqueue("c", "text", interests=["chess"], language="en") == "a"
    ticket = mm.ticket("b")
    assert ticket is not None and ticket.interests == frozenset({"chess"})


def test_cooldowns_expire_and_forgetting_cleans_every_index() -> None:
    mm, clock = make(cooldown=10)
    mm.parted("a", "b")
    clock.now += 5
    mm.parted("a", "c")
    mm.parted("a", "b")  # parted again later: its cooldown restarts
    clock.now += 6
    mm.parted("x", "y")  # prunes what ended
    assert frozenset(("a", "b")) in mm._parted
    clock.now += 10
    mm.parted("x", "z")
    assert set(mm._parted) == {frozenset(("x", "y")), frozenset(("x", "z"))}
    assert "a" not in mm._parted_by
    mm.forget("x")
    assert mm._parted == {} and mm._parted_by == {}
