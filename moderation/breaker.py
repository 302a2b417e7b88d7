"""The circuit breaker in front of the classifier workers: fail open, on purpose.

Three states, on the injected monotonic clock:

* ``closed``: checks run; ``failures`` consecutive failed checks open it (a success in
  between starts the count again);
* ``open``: checks are skipped and calls continue unmoderated; once ``cooloff`` seconds
  have passed since it opened, the next request makes it half-open;
* ``half_open``: exactly one test check runs at a time; a success closes the breaker, a
  failure opens it again for a new cool-off, a release (no frame, cancelled) lets the
  next caller test.

Each transition is counted (:class:`BreakerStats`) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
STATES: tuple[State, ...] = ("closed", "open", "half_open")


@dataclass
class BreakerStats:
    state: State = "closed"
    """``closed`` (checks run), ``open`` (checks skipped) or ``half_open`` (one test)."""
    transitions: dict[str, int] = field(default_factory=dict)
    """How many times the breaker entered each state."""
    consecutive_failures: int = 0


class Breaker:
    """Decides whether a check may run; told how each check that ran ended.

    ``clock``: the injected monotonic clock (seconds), read for the cool-off only."""

    def __init__(
        self,
        failures: int,
        cooloff: float,
        clock: Callable[[], float],
        name: str = "moderation",
    ) -> None:
        if failures < 1:
            raise ValueError("a breaker opens after at least one failure")
        self.failures = failures
        self.cooloff = cooloff
        self.clock = clock
        self.name = name
        self.stats = BreakerStats()
        self._failed = 0
        """Failures in a row while closed (what opens the breaker)."""
        self._opened_at = 0.0
        self._probe = False

    @property
    def state(self) -> State:
        return self.stats.state

    def allow(self) -> bool:
        """Whether a check may run now. A ``True`` must be followed by exactly one of
        :meth:`success`, :meth:`failure` or :meth:`release`."""
        if self.state == "open":
            if self.clock() - self._opened_at < self.cooloff:
                return False
            self._enter("half_open")
        if self.state == "half_open":
            if self._probe:
                return False  # the one test check is still running
            self._probe = True
        return True

    def success(self) -> None:
        self._probe = False
        self.stats.consecutive_failures = 0
        self._failed = 0
        if self.state == "half_open":
            self._enter("closed")

    def failure(self, error: BaseException) -> None:
        self._probe = False
        self.stats.consecutive_failures += 1
        if self.state == "half_open":
            self._enter("open")
        elif self.state == "closed":
            self._failed += 1
            if self._failed >= self.failures:
                self._enter("open")
            else:
                logger.warning(
                    "moderation check failed (%d in a row): %s",
                    self.stats.consecutive_failures,
                    error,
                )

    def release(self) -> None:
        """The allowed check did not reach the classifier (no frame, cancelled)."""
        self._probe = False

    def _enter(self, state: State) -> None:
        self.stats.state = state
        self.stats.transitions[state] = self.stats.transitions.get(state, 0) + 1
        if state == "open":
            self._opened_at = self.clock()
            logger.warning(
                "%s breaker open: %d consecutive failed checks; checks are "
                "skipped (fail open) for %.1f s",
                self.name,
                self.stats.consecutive_failures,
                self.cooloff,
            )
        elif state == "half_open":
            logger.warning("%s breaker half-open: running one test check", self.name)
        else:
            logger.warning("%s breaker closed: checks run again", self.name)
