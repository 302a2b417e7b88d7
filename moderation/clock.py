"""Moderation's clock: :mod:`duet.clock`, shared with ``signaling`` (re-exported here).

Only :mod:`duet.clock` reads the system clock; see its docstring."""

from __future__ import annotations

from duet.clock import SYSTEM_CLOCK, Clock, FakeClock, MonotonicClock, utc_now

__all__ = ["SYSTEM_CLOCK", "Clock", "FakeClock", "MonotonicClock", "utc_now"]
