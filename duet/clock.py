"""Time, injected: the one module of Duet's ``moderation`` and ``signaling`` that reads the
system clock.

Every other module takes a :class:`Clock` (or one of its methods) at construction and asks
it for monotonic time (:meth:`Clock.now`: schedules, rate limits, windows, expiring maps,
the breaker's cool-off), wall time (:meth:`Clock.wall`: ban expiry, record dates,
retention) and sleeps (:meth:`Clock.sleep`, :meth:`Clock.sleep_until`). Unit tests pass a
:class:`FakeClock` and drive minutes of schedule in microseconds without sleeping.
``tests/unit/test_moderation_clock.py`` and ``tests/unit/test_signaling_clock.py`` fail if
another module of those packages reads the system clock directly.

It imports nothing of Duet, so every package may use it (the import contracts in
``pyproject.toml`` say so); ``moderation.clock`` re-exports it for older imports.

Not covered, on purpose: ``asyncio.timeout`` around real I/O (a worker process's reply, a
Redis call) -- it bounds a real wait on the event loop's own clock and reads no time itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utc_now() -> datetime:
    """The system's wall time, timezone-aware (UTC). Prefer an injected :meth:`Clock.wall`."""
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (differences only; never a date)."""
        ...

    def wall(self) -> datetime:
        """The wall time, timezone-aware (UTC): for records, expiry and file dates."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on :meth:`now` (``<= 0``: just yield)."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic``, the system's UTC wall time, ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return utc_now()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = MonotonicClock()
"""The shared real clock, the default where none is injected."""


class FakeClock:
    """A clock that only moves when :meth:`advance` is called (tests).

    Wall time moves with monotonic time: ``wall() == wall_start + (now() - start)``.
    ``wall_start`` defaults to the real wall time when the clock is made, so records a
    test makes stay current for parts that read the real clock (a store, the lobby);
    pass a fixed ``wall_start`` for dates a test asserts."""

    def __init__(self, start: float = 1000.0, wall_start: datetime | None = None) -> None:
        self.busy: Callable[[], bool] = lambda: False
        """Tests point this at "is work running in threads?": time waits for it."""
        self._start = start
        self._now = start
        self._wall_start = wall_start if wall_start is not None else utc_now()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._ids), future))
        await future

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def advance(self, seconds: float) -> None:
        """Move time forward to each sleeper's deadline in turn (exactly), letting the
        woken tasks run -- including briefly in real time, for work they hand to threads
        (evidence writes) -- before moving on."""
        end = self._now + seconds
        while True:
            await self._settle()
            if not self._sleepers or self._sleepers[0][0] > end:
                break
            self._now = max(self._now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
        self._now = end
        await self._settle()

    async def _settle(self) -> None:
        deadline = time.monotonic() + 10.0
        for _ in range(3):
            for _ in range(10):
                await asyncio.sleep(0)
            await asyncio.sleep(0.001)
            for _ in range(5000):  # at most ~10 s
                if not self.busy() or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.002)
