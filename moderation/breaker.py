"""The circuit breaker in front of the classifier workers: fail open, on purpose.

The state machine is purgatory's (``purgatory.domain.model.Context``: closed -> opened after
``failures`` consecutive failures -> half-opened after the cool-off -> closed on a good
check, opened again on a bad one). This wrapper adds what a live moderation loop needs:

* an injected clock for the cool-off (purgatory reads wall time; before each request the
  time elapsed on our clock since opening is written back in purgatory's terms);
* exactly one test check while half-open (purgatory would let every caller through);
* counters and a log line per transition.

While the breaker is open, checks are skipped and calls continue unmoderated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from purgatory.domain.messages.events import ContextChanged
from purgatory.domain.model import Context, OpenedState

logger = logging.getLogger(__name__)

STATES = ("closed", "open", "half_open")
_NAMES = {"closed": "closed", "opened": "open", "half-opened": "half_open"}


@dataclass
class BreakerStats:
    state: str = "closed"
    """``closed`` (checks run), ``open`` (checks skipped) or ``half_open`` (one test)."""
    transitions: dict[str, int] = field(default_factory=dict)
    """How many times the breaker entered each state."""
    consecutive_failures: int = 0


class Breaker:
    """Decides whether a check may run; told how each check that ran ended."""

    def __init__(
        self,
        failures: int,
        cooloff: float,
        clock: Callable[[], float],
        name: str = "moderation",
    ) -> None:
        self.clock = clock
        self.cooloff = cooloff
        self.stats = BreakerStats()
        self._context = Context(name, threshold=failures, ttl=cooloff)
        self._opened_clock: float | None = None
        self._probe = False

    @property
    def state(self) -> str:
        return _NAMES[self._context.state]

    def allow(self) -> bool:
        """Whether a check may run now. A ``True`` must be followed by exactly one of
        :meth:`success`, :meth:`failure` or :meth:`release`."""
        if self._probe:
            return False  # half-open: the one test check is still running
        if self._opened_clock is not None:
            state = self._context._state
            if isinstance(state, OpenedState):
                state.opened_at = time.time() - (self.clock() - self._opened_clock)
        try:
            self._context.handle_new_request()
        except OpenedState:
            self._drain()
            return False
        self._drain()
        if self.state == "half_open":
            self._probe = True
        return True

    def success(self) -> None:
        self._probe = False
        self._context.handle_end_request()
        self.stats.consecutive_failures = 0
        self._drain()

    def failure(self, error: BaseException) -> None:
        self._probe = False
        self.stats.consecutive_failures += 1
        self._context.handle_exception(error)
        self._drain()
        if self.state == "closed":
            logger.warning(
                "moderation check failed (%d in a row): %s",
                self.stats.consecutive_failures,
                error,
            )

    def release(self) -> None:
        """The allowed check did not reach the classifier (no frame, cancelled)."""
        self._probe = False

    def _drain(self) -> None:
        messages, self._context.messages = self._context.messages, []
        for message in messages:
            if not isinstance(message, ContextChanged):
                continue
            state = _NAMES[message.state]
            self.stats.state = state
            self.stats.transitions[state] = self.stats.transitions.get(state, 0) + 1
            if state == "open":
                self._opened_clock = self.clock()
                logger.warning(
                    "moderation breaker open: %d consecutive failed checks; checks are "
                    "skipped (fail open) for %.1f s",
                    self.stats.consecutive_failures,
                    self.cooloff,
                )
            elif state == "half_open":
                logger.warning("moderation breaker half-open: running one test check")
            else:
                self._opened_clock = None
                logger.warning("moderation breaker closed: checks run again")
