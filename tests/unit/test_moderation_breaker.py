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
