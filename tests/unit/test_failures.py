"""``internal`` failures are logged with context, at most once per kind per interval."""

from __future__ import annotations

import logging

import pytest

from signaling.service.failures import FailureLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def boom(kind: type[Exception]) -> Exception:
    try:
        raise kind("boom")
    except Exception as exc:
        return exc


def test_a_flood_of_one_failure_writes_one_record_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = FailureLog(logging.getLogger("test.failures"), interval_s=60, clock=clock)
    with caplog.at_level(logging.ERROR, "test.failures"):
        logged = [log.failed(boom(ValueError), "handling a frame failed", visitor="v_1")]
        logged += [log.failed(boom(ValueError), "handling a frame failed") for _ in range(999)]
        logged.append(log.failed(boom(KeyError), "handling a frame failed"))  # another kind
        clock.now = 61
        logged.append(log.failed(boom(ValueError), "handling a frame failed"))
    assert logged.count(True) == 3 and log.total == 1002
    assert len(caplog.records) == 3
    first, _, last = caplog.records
    assert first.exc_info is not None and first.__dict__["visitor"] == "v_1"
    assert "999 more like it" in last.getMessage()


def test_kinds_are_bounded() -> None:
    log = FailureLog(logging.getLogger("test.failures"), max_kinds=3)
    for n in range(10):
        exc = type(f"E{n}", (Exception,), {})("x")
        log.failed(exc, "x")
    assert len(log._seen) == 3
