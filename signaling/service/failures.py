"""Rate-limited logging of unexpected failures (the ``internal`` error code).

A refusal a client can provoke at will must never write a traceback per frame: that would
let anyone flood the node's log. ``internal`` is for real server bugs, and even those are
logged at most once per ``interval_s`` per kind of failure (exception type and the line
that raised it), with the number of repeats left out since the last record.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from duet.clock import SYSTEM_CLOCK


@dataclass
class _Seen:
    logged_at: float
    suppressed: int = 0


class FailureLog:
    """Logs each kind of unexpected exception with context, at most once per interval."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 60.0,
        clock: Callable[[], float] = SYSTEM_CLOCK.now,
        max_kinds: int = 1000,
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self.max_kinds = max_kinds
        """Kinds remembered (older ones are forgotten): memory stays bounded."""
        self.total = 0
        """Failures seen (logged or not)."""
        self._seen: dict[tuple[str, str], _Seen] = {}

    @staticmethod
    def kind(exc: BaseException) -> tuple[str, str]:
        """Exception type and the innermost ``file:line`` that raised it."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        return type(exc).__name__, where

    def failed(self, exc: BaseException, context: str, **extra: object) -> bool:
        """Record one failure; returns whether it was logged (with its traceback)."""
        self.total += 1
        key = self.kind(exc)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.logged_at < self.interval_s:
            seen.suppressed += 1
            return False
        repeats = 0 if seen is None else seen.suppressed
        if seen is None and len(self._seen) >= self.max_kinds:
            self._seen.pop(next(iter(self._seen)))
        self._seen[key] = _Seen(logged_at=now)
        note = f" ({repeats} more like it since the last report)" if repeats else ""
        self.logger.error(
            "%s: %s%s",
            context,
            key[0],
            note,
            exc_info=(type(exc), exc, exc.__traceback__),
            extra=extra,
        )
        return True
