"""One video check: a frame of the visitor's own video, classified, judged by the policy.

:class:`FrameCheck` taps a frame (or, for a pre-screen, the keyframe the video gate will
forward), has a classifier worker judge it and turns the verdict into a
:class:`moderation.policy.Decision`. It assumes the breaker has allowed the check: it reports
success or failure to the breaker, and releases the claim when there was nothing to judge
(no frame is a skip, never a classifier failure).
"""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from duet.person import Person
from moderation.breaker import Breaker
from moderation.clock import Clock
from moderation.errors import CheckFailed, NoWorker
from moderation.frames import BgrFrame
from moderation.policy import Decision, Policy
from moderation.ports import (
    FrameChecker,
    FrameSource,
    Screened,
    VideoGate,
)
from moderation.settings import ModerationSettings
from moderation.stats import ModerationStats
from moderation.verdict import Verdict

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    frame: BgrFrame
    verdict: Verdict
    decision: Decision
    keyframe: int | None = None
    """For a pre-screen: the SFU's name of the keyframe that was judged."""


class FrameCheck:
    """Tap, classify, judge (what the moderator runs once per check)."""

    def __init__(
        self,
        settings: ModerationSettings,
        checker: FrameChecker,
        frames: FrameSource,
        gate: VideoGate | None,
        breaker: Breaker,
        policy: Policy,
        stats: ModerationStats,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.checker = checker
        self.frames = frames
        self.gate = gate
        self.breaker = breaker
        self.policy = policy
        self.stats = stats
        self.clock = clock

    async def run(self, subject: Person, screen: bool = False) -> CheckResult | None:
        """Tap, classify, judge. The breaker has allowed this check. ``screen``: judge the
        keyframe the gate will forward (a pre-screen)."""
        started = self.clock.now()
        keyframe: int | None = None
        if screen:
            assert self.gate is not None
            screened = await self._screen(subject)
            frame = None if screened is None else screened.frame
            keyframe = None if screened is None else screened.keyframe
        else:
            frame = await self._grab(subject)
        if frame is None:
            # No frame is no verdict on the classifier: a skip, never a breaker failure.
            self.breaker.release()
            self.stats.checks_skipped["no_frame"] += 1
            return None
        try:
            verdict = await self.checker.classify(frame)
        except NoWorker as exc:
            if exc.code == "unavailable":
                self.stats.checks_failed["unavailable"] += 1
                self.breaker.failure(exc)
            else:
                self.breaker.release()
                self.stats.checks_skipped[exc.code] += 1
            return None
        except CheckFailed as exc:
            self.stats.checks_failed[exc.code] += 1
            self.breaker.failure(exc)
            return None
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except Exception as exc:
            logger.exception("moderation check failed")
            self.stats.checks_failed["error"] += 1
            self.breaker.failure(exc)
            return None
        self.breaker.success()
        self.stats.checks_run += 1
        self.stats.verdicts[verdict.outcome] += 1
        self.stats.faces["face" if verdict.faces else "no_face"] += 1
        self.stats.latency_s.observe(self.clock.now() - started)
        decision = self.policy.decide(subject.visitor, verdict)
        if verdict.unsafe or verdict.minor:
            logger.info(
                "moderation verdict for %s: %s (%s) -> %s",
                subject.visitor,
                verdict.outcome,
                verdict.reason,
                decision.action,
            )
        return CheckResult(frame, verdict, decision, keyframe)

    async def _grab(self, subject: Person) -> BgrFrame | None:
        """A frame of ``subject``'s video, or ``None``: the frame source (the SFU, maybe in
        another process) timing out or failing means there is nothing to check."""
        grab = self.frames.grab(
            subject.visitor, self.settings.tap_timeout_s, self.settings.frame_max_side
        )
        return await self._or_none(grab, "no frame of %s: the frame source failed", subject)

    async def _screen(self, subject: Person) -> Screened | None:
        """The keyframe a pre-screen judges (see :meth:`_grab`: a failing source is no
        frame, never a breaker failure)."""
        assert self.gate is not None
        screen = self.gate.screen(
            subject.visitor, self.settings.tap_timeout_s, self.settings.frame_max_side
        )
        return await self._or_none(screen, "no keyframe of %s: the video gate failed", subject)

    async def _or_none(self, fetch: Awaitable[T], failed: str, subject: Person) -> T | None:
        """``fetch``'s result, or ``None`` when it times out or fails (logged as ``failed``
        with the visitor); cancelled, the breaker's claim is released."""
        try:
            return await fetch
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except TimeoutError:
            return None
        except Exception:
            logger.warning(failed, subject.visitor, exc_info=True)
            return None
