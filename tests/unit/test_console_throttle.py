"""Login throttling on a fake clock: lockout per name and per IP, and its end."""

from __future__ import annotations

from signaling.console.throttle import LoginThrottle, Throttle


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_failures_within_the_window_lock_for_the_lockout() -> None:
    clock = Clock()
    throttle = Throttle(limit=3, window=60, lockout=300, clock=clock)
    assert not throttle.failed("mo") and not throttle.failed("mo")
    assert throttle.retry_after("mo") == 0
    assert throttle.failed("mo")
    assert throttle.retry_after("mo") == 300
    clock.t += 299
    assert throttle.retry_after("mo") == 1
    clock.t += 1
    assert throttle.retry_after("mo") == 0


def test_failures_outside_the_window_are_forgotten() -> None:
    clock = Clock()
    throttle = Throttle(limit=3, window=60, lockout=300, clock=clock)
    throttle.failed("mo")
    throttle.failed("mo")
    clock.t += 61
    assert not throttle.failed("mo")
    assert throttle.retry_after("mo") == 0


def test_success_clears_a_name_but_not_a_lockout() -> None:
    clock = Clock()
    throttle = Throttle(limit=2, window=60, lockout=300, clock=clock)
    throttle.failed("mo")
    throttle.succeeded("mo")
    assert not throttle.failed("mo")
    assert throttle.failed("mo")
    throttle.succeeded("mo")
    assert throttle.retry_after("mo") == 300


def test_names_and_ips_lock_separately() -> None:
    clock = Clock()
    throttle = LoginThrottle(per_name=2, per_ip=3, window=60, lockout=100, clock=clock)
    assert not throttle.failed("a", "10.0.0.1")
    assert throttle.failed("a", "10.0.0.1")  # the name
    assert throttle.retry_after("b", "10.0.0.2") == 0
    assert throttle.failed("b", "10.0.0.1")  # the IP (third failure)
    assert throttle.retry_after("c", "10.0.0.1") == 100
    assert throttle.retry_after("c", "10.0.0.2") == 0


def test_memory_is_bounded() -> None:
    throttle = Throttle(limit=5, window=60, lockout=60, clock=Clock(), max_keys=100)
    for n in range(1000):
        throttle.failed(f"name{n}")
    assert len(throttle._keys) == 100
