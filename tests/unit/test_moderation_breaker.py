"""Breaker transitions on a fake clock: closed -> open -> half-open -> closed/open."""

from __future__ import annotations

import logging

import pytest

from moderation.breaker import Breaker


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    clock = Tick()
    breaker = Breaker(failures=3, cooloff=30, clock=clock)
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure(RuntimeError("worker died"))
    assert breaker.allow()
    breaker.success()  # a success in between resets the count
    for _ in range(3):
        assert breaker.state == "closed"
        assert breaker.allow()
        breaker.failure(RuntimeError("worker died"))
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 29
    assert not breaker.allow()
    assert breaker.stats.transitions == {"open": 1}
    assert "moderation breaker open" in caplog.text


def test_half_open_runs_one_test_check_then_closes() -> None:
    clock = Tick()
    breaker = Breaker(failures=1, cooloff=5, clock=clock)
    assert breaker.allow()
    breaker.failure(TimeoutError())
    clock.now += 5.1
    assert breaker.allow()
    assert breaker.state == "half_open"
    assert not breaker.allow()  # only one test check at a time
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.allow() and breaker.allow()
    assert breaker.stats.transitions == {"open": 1, "half_open": 1, "closed": 1}


def test_failed_test_check_reopens_for_a_new_cooloff() -> None:
    clock = Tick()
    breaker = Breaker(failures=1, cooloff=5, clock=clock)
    breaker.allow()
    breaker.failure(TimeoutError())
    clock.now += 6
    assert breaker.allow()
    breaker.failure(TimeoutError())
    assert breaker.state == "open"
    clock.now += 4
    assert not breaker.allow()
    clock.now += 2
    assert breaker.allow()
    breaker.release()  # the test check found no frame: another may try
    assert breaker.allow()


def test_the_cooloff_must_pass_in_full_before_a_test_check() -> None:
    clock = Tick()
    breaker = Breaker(failures=2, cooloff=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure(TimeoutError())
    assert breaker.state == "open"
    clock.now += 9.999
    assert not breaker.allow()
    assert breaker.state == "open"
    clock.now += 0.001
    assert breaker.allow()
    assert breaker.state == "half_open"


def test_late_outcomes_while_open_change_nothing() -> None:
    """Checks allowed while closed may end after the breaker opened: neither a success
    nor a failure of theirs closes it or restarts its cool-off."""
    clock = Tick()
    breaker = Breaker(failures=1, cooloff=5, clock=clock)
    assert breaker.allow() and breaker.allow()
    breaker.failure(TimeoutError())
    assert breaker.state == "open"
    clock.now += 3
    breaker.success()
    assert breaker.state == "open"
    breaker.failure(TimeoutError())
    clock.now += 2.5
    assert breaker.allow()  # the cool-off still counts from the first opening
    assert breaker.stats.transitions == {"open": 1, "half_open": 1}


def test_after_closing_the_count_starts_again() -> None:
    clock = Tick()
    breaker = Breaker(failures=2, cooloff=1, clock=clock)
    for _ in range(2):
        breaker.allow()
        breaker.failure(TimeoutError())
    clock.now += 2
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    breaker.allow()
    breaker.failure(TimeoutError())
    assert breaker.state == "closed"  # one failure of two
    breaker.allow()
    breaker.failure(TimeoutError())
    assert breaker.state == "open"


def test_a_breaker_needs_at_least_one_failure_to_open() -> None:
    with pytest.raises(ValueError):
        Breaker(failures=0, cooloff=1, clock=Tick())
