"""Time, injected: the real monotonic clock, or a fake one that tests move by hand.

Schedules, rate limits, windows and the breaker's cool-off all read a :class:`Clock`, so
unit tests drive minutes of schedule in microseconds without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``."""
        ...


class MonotonicClock:
    """The real clock (``time.monotonic``)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """A clock that only moves when :meth:`advance` is called (tests)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.busy: Callable[[], bool] = lambda: False
        """Tests point this at "is work running in threads?": time waits for it."""
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._ids), future))
        await future

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
