"""When to check whom: per-match schedules and the global backstops (seed 002's cost wall).

A :class:`Schedule` is keyed by (visitor, match): a new match starts a fresh one, so nobody
can outwait the checks by behaving during their first minute once. On top of it,
:class:`Backstops` enforce a global rate, a daily budget, one check in flight per match,
and no more checks of a visitor who was banned or held (never of their partner: a
review-worthy verdict about one visitor leaves the other's schedule alone). Everything reads an
injected clock and is pure bookkeeping (no tasks, no I/O).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DAY_S = 86_400.0


@dataclass(frozen=True)
class Schedule:
    """Check offsets (seconds after the match started), then an optional period."""

    offsets: tuple[float, ...]
    periodic: float = 0.0
    """After the last offset, one check every ``periodic`` seconds; 0: no more checks."""
    shift: float = 0.0
    """Added to every offset (staggers the two visitors of a match)."""

    @classmethod
    def of(cls, offsets: Sequence[float], periodic: float, shift: float = 0.0) -> Schedule:
        return cls(tuple(offsets), periodic, shift)

    def offset(self, n: int) -> float | None:
        """Seconds after the start of check number ``n`` (from 0), or ``None``: no more."""
        if n < 0:
            raise ValueError("check numbers start at 0")
        if n < len(self.offsets):
            return self.offsets[n] + self.shift
        if self.periodic <= 0:
            return None
        last = self.offsets[-1] if self.offsets else 0.0
        return last + self.periodic * (n - len(self.offsets) + 1) + self.shift

    def count_within(self, seconds: float) -> int:
        """How many checks fall in the first ``seconds`` of a match."""
        n = 0
        while (at := self.offset(n)) is not None and at <= seconds:
            n += 1
        return n


class RateLimiter:
    """Token bucket: ``rate`` checks per second, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class DailyBudget:
    """At most ``limit`` checks per 24 hours, counted in windows from the first check
    (0: unlimited). Assumes one process: a shared budget needs Redis."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.clock = clock
        self.used = 0
        self._window_start: float | None = None

    def take(self) -> bool:
        now = self.clock()
        if self._window_start is None or now - self._window_start >= DAY_S:
            self._window_start, self.used = now, 0
        if self.limit and self.used >= self.limit:
            return False
        self.used += 1
        return True


class WindowCap:
    """At most ``limit`` events per key within ``window_s`` (sliding)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._events: dict[str, deque[float]] = {}

    def take(self, key: str) -> bool:
        now = self.clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def prune(self) -> None:
        """Forget keys whose events all left the window (bounded memory)."""
        horizon = self.clock() - self.window_s
        for key in [k for k, e in self._events.items() if not e or e[-1] <= horizon]:
            del self._events[key]


@dataclass(frozen=True)
class ReportBudget:
    """Limits of checks asked for by image reports (see ``ModerationSettings``)."""

    per_s: float = 2.0
    daily: int = 20_000
    per_reporter: int = 3
    per_target: int = 3
    window_s: float = 600.0


class Backstops:
    """Limits every check must pass. :meth:`admit` (scheduled checks) returns ``None`` and
    marks the match busy, or the reason the check is skipped; :meth:`admit_urgent`
    (report-asked checks) draws from its own budget, never the scheduled one."""

    def __init__(
        self,
        max_per_s: float,
        daily_budget: int,
        clock: Callable[[], float],
        visitor_per_min: int = 20,
        reports: ReportBudget | None = None,
    ) -> None:
        self.clock = clock
        self.rate = RateLimiter(max_per_s, max(1.0, max_per_s), clock)
        self.budget = DailyBudget(daily_budget, clock)
        self.visitor_per_min = visitor_per_min
        self._visitor_rates: dict[str, RateLimiter] = {}
        r = reports or ReportBudget()
        self.report_rate = RateLimiter(r.per_s, max(1.0, r.per_s), clock)
        self.report_budget = DailyBudget(r.daily, clock)
        self.per_reporter = WindowCap(r.per_reporter, r.window_s, clock)
        self.per_target = WindowCap(r.per_target, r.window_s, clock)
        self.in_flight: set[str] = set()
        self.stopped: set[str] = set()
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}

    async def idle(self, match: str) -> None:
        """Until ``match`` has no check in flight. A scheduled check waits here rather than
        being skipped: with both visitors' schedules close together (``partner_stagger_s``
        shorter than a check), skipping would starve the second visitor of every check."""
        while match in self.in_flight:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(match, []).append(waiter)
            await waiter

    def _wake(self, match: str) -> None:
        for waiter in self._waiting.pop(match, []):
            if not waiter.done():
                waiter.set_result(None)

    def _visitor_take(self, visitor: str | None) -> bool:
        """One check from ``visitor``'s own bucket (``None``: not per visitor)."""
        if visitor is None:
            return True
        bucket = self._visitor_rates.get(visitor)
        if bucket is None:
            per_min = float(self.visitor_per_min)
            bucket = RateLimiter(per_min / 60.0, per_min, self.clock)
            self._visitor_rates[visitor] = bucket
        return bucket.take()

    def admit(self, match: str, visitor: str | None = None) -> str | None:
        if visitor is not None and visitor in self.stopped:
            return "visitor_stopped"
        if match in self.in_flight:
            return "match_in_flight"
        if not self._visitor_take(visitor):
            return "visitor_rate"
        if not self.rate.take():
            return "rate_limited"
        if not self.budget.take():
            return "daily_budget"
        self.in_flight.add(match)
        return None

    def admit_screen(self, visitor: str) -> str | None:
        """For a pre-screen (the first check of a match, both visitors at once): the
        visitor's own rate (``visitor_rate``: the caller keeps the video held and retries,
        so Next-spam can never buy unscreened video) then the global rate and daily budget
        of scheduled checks (``rate_limited``, ``daily_budget``: the caller fails open). Not
        the one-in-flight rule."""
        if not self._visitor_take(visitor):
            return "visitor_rate"
        if not self.rate.take():
            return "rate_limited"
        if not self.budget.take():
            return "daily_budget"
        return None

    def admit_urgent(self, visitor: str, reporter: str, target: str | None = None) -> str | None:
        """For a check a person asked for (an image report): bypasses the schedule, the
        one-in-flight rule and a stopped visitor. It draws on the report budget (its own
        rate and daily budget, at most ``per_reporter`` checks caused by one reporter and
        ``per_target`` of one reported visitor per window) and the visitor's own rate,
        never on the global rate or daily budget of scheduled checks. ``target``: the key
        of the reported person for ``per_target`` (their session; default ``visitor``)."""
        if not self.per_reporter.take(reporter):
            return "reporter_cap"
        if not self.per_target.take(target or visitor):
            return "target_cap"
        if not self._visitor_take(visitor):
            return "visitor_rate"
        if not self.report_rate.take():
            return "report_rate"
        if not self.report_budget.take():
            return "report_budget"
        return None

    def done(self, match: str) -> None:
        self.in_flight.discard(match)
        self._wake(match)

    def stop(self, visitor: str) -> None:
        """No more checks of ``visitor`` (banned or held)."""
        self.stopped.add(visitor)

    def resume(self, visitor: str) -> None:
        """``visitor`` may be checked again (released from a hold)."""
        self.stopped.discard(visitor)

    def visitor_gone(self, visitor: str) -> None:
        """``visitor`` disconnected: forget its per-visitor state."""
        self.stopped.discard(visitor)
        self._visitor_rates.pop(visitor, None)
        self.per_reporter.prune()
        self.per_target.prune()

    def forget(self, match: str) -> None:
        """The match ended."""
        self.in_flight.discard(match)
        self._wake(match)
