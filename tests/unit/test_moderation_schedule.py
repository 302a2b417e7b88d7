"""Schedules per (visitor, match) and the global backstops, on a fake clock."""

from __future__ import annotations

import pytest

from moderation.schedule import DAY_S, Backstops, DailyBudget, RateLimiter, Schedule


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_schedule_is_front_loaded_then_periodic_or_done() -> None:
    schedule = Schedule.of([1, 3, 6, 10, 20, 40, 60], periodic=120)
    assert [schedule.offset(n) for n in range(9)] == [1, 3, 6, 10, 20, 40, 60, 180, 300]
    assert schedule.count_within(60) == 7
    done = Schedule.of([1, 3], periodic=0)
    assert done.offset(2) is None
    assert Schedule.of([1, 3], periodic=0, shift=0.5).offset(1) == 3.5
    with pytest.raises(ValueError):
        done.offset(-1)


def test_default_schedule_stays_within_eight_model_calls_per_match_minute() -> None:
    from moderation.settings import ModerationSettings

    s = ModerationSettings()
    schedule = Schedule.of(s.schedule_offsets_s, s.periodic_s)
    # Both visitors, in the first minute (the busiest one) and over ten minutes.
    assert 2 * schedule.count_within(60) <= 8
    assert 2 * schedule.count_within(600) / 10 <= 8


def test_rate_limiter_refills_with_time() -> None:
    clock = Tick()
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    assert [limiter.take() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert limiter.take() is True
    assert limiter.take() is False
    clock.now += 10
    assert [limiter.take() for _ in range(3)] == [True, True, False]


def test_daily_budget_resets_after_a_day() -> None:
    clock = Tick()
    budget = DailyBudget(limit=2, clock=clock)
    assert [budget.take() for _ in range(3)] == [True, True, False]
    clock.now += DAY_S
    assert budget.take() is True
    unlimited = DailyBudget(limit=0, clock=clock)
    assert all(unlimited.take() for _ in range(1000))


def test_backstops_give_each_skip_a_reason() -> None:
    clock = Tick()
    stops = Backstops(max_per_s=2, daily_budget=3, clock=clock)
    assert stops.admit("m1") is None
    assert stops.admit("m1") == "match_in_flight"
    assert stops.admit("m2") is None
    assert stops.admit("m3") == "rate_limited"
    stops.done("m1")
    stops.done("m2")
    clock.now += 5
    assert stops.admit("m1") is None
    stops.done("m1")
    assert stops.admit("m2") == "daily_budget"
    stops.stop("v_a")
    assert stops.admit("m1", "v_a") == "visitor_stopped"
    stops.resume("v_a")
    assert "v_a" not in stops.stopped
