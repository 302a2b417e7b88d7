"""What a verdict leads to (seed 002's enforcement split), as a pure function of verdicts.

* Possible minor -> HIGH-priority human review; never an automatic ban: a person looks
  at the evidence, whatever the model's confidence.
* Possible minor *and* explicit (one frame at ``ban_score``, or the rolling window full)
  -> ``hold``: the visitor's media stops and they wait for a reviewer (never a ban). A
  visitor seen as a possible minor within ``window_s`` counts as one for this rule even
  when a later explicit frame shows no face.
* Unsafe at ``ban_score`` or above on one frame -> ban.
* Otherwise unsafe frames of a visitor accumulate over a rolling ``window_s``; the visitor
  is banned only when ``window_frames`` of them agree. Until then the moderator runs quick
  confirmation checks (``confirm``); if they do not agree the case is borderline and goes
  to review (:meth:`Policy.settle`). A single flicker never bans.

The window is per visitor, not per match: hopping to a new partner does not reset it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from moderation.settings import ModerationSettings
from moderation.verdict import Verdict

Action = Literal["none", "confirm", "ban", "review", "hold"]
Priority = Literal["high", "normal"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    priority: Priority | None = None
    """For ``review`` and ``hold``: ``high`` (a possible minor) or ``normal``."""


NOTHING = Decision("none")


class Policy:
    """Turns each verdict of a visitor into a :class:`Decision`."""

    def __init__(self, settings: ModerationSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self._windows: dict[str, deque[tuple[float, float]]] = {}
        self._minor: dict[str, float] = {}

    def decide(self, visitor: str, verdict: Verdict) -> Decision:
        s = self.settings
        if verdict.minor:
            self._minor[visitor] = self.clock()
        minor = self._possible_minor(visitor)
        if not verdict.unsafe:
            if verdict.minor:
                return Decision("review", f"possible minor: {verdict.reason}", "high")
            return NOTHING
        frames = self._add(visitor, verdict.score)
        decisive = verdict.score >= s.ban_score or frames >= s.window_frames
        if minor:
            if decisive:
                return Decision(
                    "hold", f"possible minor in explicit content: {verdict.reason}", "high"
                )
            return Decision(
                "review", f"possible minor in explicit content: {verdict.reason}", "high"
            )
        if verdict.score >= s.ban_score:
            return Decision(
                "ban", f"explicit content (score {verdict.score:.2f}): {verdict.reason}"
            )
        if frames >= s.window_frames:
            return Decision(
                "ban",
                f"explicit content in {frames} frames within {s.window_s:g} s: {verdict.reason}",
            )
        return Decision("confirm", f"unsafe frame {frames} of {s.window_frames}: {verdict.reason}")

    def _possible_minor(self, visitor: str) -> bool:
        """Seen as a possible minor within ``window_s``."""
        at = self._minor.get(visitor)
        if at is None:
            return False
        if self.clock() - at > self.settings.window_s:
            del self._minor[visitor]
            return False
        return True

    def settle(self, visitor: str) -> Decision:
        """After confirmation checks that did not agree: a borderline case for review."""
        frames = self._count(visitor)
        if frames == 0:
            return NOTHING
        return Decision(
            "review",
            f"borderline: {frames} unsafe frame(s) within {self.settings.window_s:g} s, "
            f"fewer than the {self.settings.window_frames} that ban",
            "normal",
        )

    def forget(self, visitor: str) -> None:
        self._windows.pop(visitor, None)
        self._minor.pop(visitor, None)

    def _add(self, visitor: str, score: float) -> int:
        window = self._windows.setdefault(
            visitor, deque(maxlen=max(64, self.settings.window_frames))
        )
        window.append((self.clock(), score))
        return self._count(visitor)

    def _count(self, visitor: str) -> int:
        window = self._windows.get(visitor)
        if window is None:
            return 0
        horizon = self.clock() - self.settings.window_s
        while window and window[0][0] < horizon:
            window.popleft()
        if not window:
            del self._windows[visitor]
            return 0
        return len(window)
