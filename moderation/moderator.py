"""The video moderator: follows each match's schedules and acts on verdicts.

Data path: schedule due -> backstops -> breaker -> frame tap (visitor's own feed) ->
classifier worker -> verdict -> policy -> (confirmation checks) -> evidence -> ban, hold
or review item. A review-worthy verdict schedules quick confirmation checks of that
visitor only; only a banned or held visitor stops being checked (the partner never).
One task per (visitor, match) sleeps on the injected clock until its next offset; ending
the match cancels both. Sanctions run in their own task so that the ban ending the match
(and so cancelling the schedule) cannot interrupt them half-way. One check is
:mod:`moderation.check`; what a decision leads to, :mod:`moderation.consequences`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, TypeVar

from duet.person import Person
from duet.tasks import TaskSet
from moderation.breaker import Breaker
from moderation.check import CheckResult, FrameCheck
from moderation.clock import Clock
from moderation.consequences import Consequences
from moderation.evidence import EvidenceWriter
from moderation.faces import face_present
from moderation.policy import Decision, Policy
from moderation.ports import (
    ClipSource,
    FrameChecker,
    FrameSource,
    MatchRef,
    VideoGate,
)
from moderation.records import ModerationStore
from moderation.sanctions import Sanctions
from moderation.schedule import Backstops, ReportBudget, Schedule
from moderation.settings import ModerationSettings
from moderation.shared import SharedBudget
from moderation.stats import ModerationStats

T = TypeVar("T")

logger = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0


class VideoModerator:
    def __init__(
        self,
        settings: ModerationSettings,
        checker: FrameChecker,
        frames: FrameSource,
        sanctions: Sanctions,
        evidence: EvidenceWriter,
        store: ModerationStore,
        clock: Clock,
        gate: VideoGate | None = None,
        clips: ClipSource | None = None,
    ) -> None:
        """``gate``: the SFU's outbound video gate; with ``settings.prescreen`` each match
        starts with a pre-screen of both visitors that opens it (see :meth:`prescreen`).
        ``clips``: where evidence clips come from (``settings.evidence_clip_s``)."""
        self.settings = settings
        self.clips = clips if settings.evidence_clip_s > 0 else None
        self.gate = gate if settings.prescreen else None
        self.checker = checker
        self.frames = frames
        self.sanctions = sanctions
        self.evidence = evidence
        self.store = store
        self.clock = clock
        self.stats: ModerationStats = sanctions.stats
        self.backstops = Backstops(
            settings.max_checks_per_s,
            settings.daily_budget,
            clock.now,
            visitor_per_min=settings.visitor_checks_per_min,
            reports=ReportBudget(
                settings.report_checks_per_s,
                settings.report_daily_budget,
                settings.report_checks_per_reporter,
                settings.report_checks_per_target,
                settings.report_check_window_s,
            ),
        )
        self.breaker = Breaker(settings.breaker_failures, settings.breaker_cooloff_s, clock.now)
        self.policy = Policy(settings, clock.now)
        self.shared: SharedBudget | None = None
        """With ``redis_url``: the global rate and daily budget of all nodes together."""
        self._schedules: dict[str, TaskSet] = {}
        self._background = TaskSet()
        self.checking = FrameCheck(
            settings, checker, frames, self.gate, self.breaker, self.policy, self.stats, clock
        )
        self.consequences = Consequences(
            settings, sanctions, evidence, self.clips, self.backstops, self.policy, self._background
        )

    @property
    def busy(self) -> bool:
        """Whether evidence is being written, a sanction applied or a face looked for
        right now (work in threads, which a fake clock must wait for)."""
        return self.consequences.working > 0

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._background.spawn(self._retention())

    async def close(self) -> None:
        for tasks in self._schedules.values():
            tasks.cancel()
        self._schedules.clear()
        self._background.cancel()
        await self._background.wait()

    # --- events from the composition root ---------------------------------------------

    def match_started(self, match: MatchRef) -> None:
        """Start a fresh schedule for each visitor of a new video match."""
        started = self.clock.now()
        s = self.settings
        tasks = self._schedules.setdefault(match.id, TaskSet())
        for index, subject in enumerate(match.subjects):
            # Matched again: not banned, and no hold any more (it expired or was cleared),
            # so checked like anyone from the start.
            self.backstops.resume(subject.visitor)
            schedule = Schedule.of(s.schedule_offsets_s, s.periodic_s, index * s.partner_stagger_s)
            if self.gate is not None:
                follow = self._screen_then_follow(subject, match.id, schedule, started)
            else:
                follow = self._follow(subject, match.id, schedule, started)
            tasks.spawn(follow)

    def match_ended(self, match_id: str) -> None:
        tasks = self._schedules.pop(match_id, None)
        if tasks is not None:
            tasks.cancel()
        self.backstops.forget(match_id)
        self.consequences.forget_match(match_id)

    def visitor_left(self, visitor: str) -> None:
        self.policy.forget(visitor)
        self.backstops.visitor_gone(visitor)

    def released(self, visitor: str) -> None:
        """A reviewer cleared a held visitor: their next matches are checked again."""
        self.backstops.resume(visitor)
        self.policy.forget(visitor)

    # --- checks -----------------------------------------------------------------------

    async def check(self, subject: Person, match_id: str) -> Decision | None:
        """One check of ``subject`` in ``match_id``, with confirmations and sanctions.
        Returns the final decision, or ``None`` if the check was skipped or failed."""
        self.stats.checks_scheduled += 1
        result = await self._check_once(subject, match_id)
        if result is None:
            return None
        if result.decision.action == "confirm":
            result = await self._confirm(subject, match_id, result)
        await self.consequences.act(subject, match_id, result)
        if result.decision.action == "review":
            self._reconfirm_soon(subject, match_id)
        return result.decision

    def _reconfirm_soon(self, subject: Person, match_id: str) -> None:
        """After a review-worthy verdict: quick confirmation checks of ``subject`` only
        (cancelled with the match's schedules). They can still ban or hold."""
        tasks = self._schedules.get(match_id)
        if tasks is None or self.settings.confirm_checks == 0:
            return
        tasks.spawn(self._reconfirm(subject, match_id))

    async def _reconfirm(self, subject: Person, match_id: str) -> None:
        for _ in range(self.settings.confirm_checks):
            await self.clock.sleep_until(self.clock.now() + self.settings.confirm_interval_s)
            try:
                self.stats.checks_scheduled += 1
                result = await self._check_once(subject, match_id)
                if result is None:
                    continue
                if result.decision.action == "confirm":
                    result = await self._confirm(subject, match_id, result)
                await self.consequences.act(subject, match_id, result)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("moderation re-check of %s failed", subject.visitor)
                continue
            if result.decision.action in ("ban", "hold"):
                return

    async def check_reported(
        self, subject: Person, match_id: str, reporter: str
    ) -> Decision | None:
        """An immediate check of a reported visitor's live video (an image report):
        bypasses the schedule; draws on the report budget (see
        :meth:`Backstops.admit_urgent`; ``reporter`` keys the per-reporter cap). Explicit
        at ban confidence is enforced; anything unsafe below it is borderline and goes to
        human review (no confirmation loop: a person asked us to look); a possible minor
        always goes to review (held if also explicit). Returns the decision, or ``None``
        if no check could run."""
        self.stats.checks_scheduled += 1
        self.stats.report_checks += 1
        skip = self.backstops.admit_urgent(
            subject.visitor, reporter, subject.session or subject.device or subject.visitor
        )
        if skip is not None:
            self.stats.checks_skipped[skip] += 1
            return None
        if not self.breaker.allow():
            reason = "breaker_half_open" if self.breaker.state == "half_open" else "breaker_open"
            self.stats.checks_skipped[reason] += 1
            return None
        result = await self.checking.run(subject)
        if result is None:
            return None
        if result.decision.action == "confirm":
            decision = Decision(
                "review", f"reported, borderline: {result.decision.reason}", "normal"
            )
            result = CheckResult(result.frame, result.verdict, decision)
        await self.consequences.act(subject, match_id, result)
        return result.decision

    async def _screen_then_follow(
        self, subject: Person, match_id: str, schedule: Schedule, started: float
    ) -> None:
        """The pre-screen is the schedule's first check; the rest follows as usual."""
        try:
            await self.prescreen(subject, match_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("pre-screen of %s failed unexpectedly", subject.visitor)
            self._open(subject.visitor, match_id, None, "fail_open_error")
        await self._follow(subject, match_id, schedule, started, first=1)

    async def prescreen(self, subject: Person, match_id: str) -> bool:
        """Judge a fresh keyframe of ``subject``'s video before its partner sees any.

        Safe (and, with ``require_face``, a face seen): the gate opens, forwarding that
        keyframe first; returns ``True``. Unsafe or a possible minor: the usual policy
        (confirmations, ban or review) and the gate stays shut for this match; ``False``.
        Breaker open or over the global rate/budget: the gate opens at once (fail open,
        counted). No frame (camera off, media still connecting) or no face: retried at
        most once per ``prescreen_retry_s`` while the match lasts. Needs a gate."""
        gate = self.gate
        assert gate is not None
        visitor = subject.visitor
        gate.tell(visitor, match_id, "checking")
        asked_for_face = False
        retry = self.settings.prescreen_retry_s
        while True:
            attempt = self.clock.now()
            self.stats.checks_scheduled += 1
            if visitor in self.backstops.stopped:  # banned or held meanwhile: stays shut
                self.stats.checks_skipped["visitor_stopped"] += 1
                return False
            if not self.breaker.allow():
                reason = (
                    "breaker_half_open" if self.breaker.state == "half_open" else "breaker_open"
                )
                self.stats.checks_skipped[reason] += 1
                return self._open(visitor, match_id, None, "fail_open_" + reason)
            # Both visitors of a match are screened at once: the one-check-in-flight rule
            # does not apply; the visitor's own rate, the global rate and budget do.
            skip = self.backstops.admit_screen(visitor)
            if skip is None and self.shared is not None:
                skip = await self.shared.take()
            if skip == "visitor_rate":  # held, retried: never opened unscreened
                self.breaker.release()
                self.stats.checks_skipped[skip] += 1
                await self.clock.sleep_until(attempt + retry)
                continue
            if skip is not None:
                self.breaker.release()
                self.stats.checks_skipped[skip] += 1
                return self._open(visitor, match_id, None, "fail_open_" + skip)
            result = await self.checking.run(subject, screen=True)
            if result is None:  # no frame, or a failed check (the breaker counts those)
                # At most one attempt per ``retry`` seconds; one that waited that long for
                # a frame (media still connecting) is followed at once.
                await self.clock.sleep_until(attempt + retry)
                continue
            decision = result.decision
            if decision.action == "none":
                if self.settings.require_face:
                    self.consequences.working += 1  # a thread at work: ``busy`` (fake clocks wait)
                    try:
                        face = await asyncio.to_thread(face_present, result.verdict, result.frame)
                    finally:
                        self.consequences.working -= 1
                    self.stats.face_gate["face" if face else "no_face"] += 1
                    if not face:
                        if not asked_for_face:
                            gate.tell(visitor, match_id, "face_required")
                            asked_for_face = True
                        await self.clock.sleep_until(attempt + retry)
                        continue
                return self._open(visitor, match_id, result.keyframe, "opened")
            self.stats.prescreens["held"] += 1
            if decision.action == "confirm":
                result = await self._confirm(subject, match_id, result)
            await self.consequences.act(subject, match_id, result)
            return False

    def _open(self, visitor: str, match_id: str, keyframe: int | None, outcome: str) -> bool:
        assert self.gate is not None
        self.stats.prescreens[outcome] += 1
        self.gate.release(visitor, match_id, keyframe)
        self.gate.tell(visitor, match_id, "open")
        return True

    async def _follow(
        self, subject: Person, match_id: str, schedule: Schedule, started: float, first: int = 0
    ) -> None:
        """Run the checks of ``schedule`` from number ``first`` on."""
        n = first
        while (offset := schedule.offset(n)) is not None:
            n += 1
            await self.clock.sleep_until(started + offset)
            # The partner's check in flight: this one runs after it, not instead of it.
            await self.backstops.idle(match_id)
            if subject.visitor in self.backstops.stopped:
                self.stats.checks_skipped["visitor_stopped"] += 1
                return
            try:
                await self.check(subject, match_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("moderation check of %s failed unexpectedly", subject.visitor)

    async def _confirm(self, subject: Person, match_id: str, first: CheckResult) -> CheckResult:
        best = first
        for _ in range(self.settings.confirm_checks):
            await self.clock.sleep_until(self.clock.now() + self.settings.confirm_interval_s)
            self.stats.checks_scheduled += 1
            result = await self._check_once(subject, match_id)
            if result is None:
                continue
            if result.decision.action in ("ban", "review", "hold"):
                return result
            if result.verdict.unsafe and result.verdict.score > best.verdict.score:
                best = result
        return CheckResult(best.frame, best.verdict, self.policy.settle(subject.visitor))

    async def _check_once(self, subject: Person, match_id: str) -> CheckResult | None:
        skip = self.backstops.admit(match_id, subject.visitor)
        if skip is not None:
            self.stats.checks_skipped[skip] += 1
            return None
        try:
            if self.shared is not None and (skip := await self.shared.take()) is not None:
                self.stats.checks_skipped[skip] += 1
                return None
            if not self.breaker.allow():
                reason = (
                    "breaker_half_open" if self.breaker.state == "half_open" else "breaker_open"
                )
                self.stats.checks_skipped[reason] += 1
                return None
            return await self.checking.run(subject)
        finally:
            self.backstops.done(match_id)

    async def _retention(self) -> None:
        """Hourly: delete evidence older than ``evidence_retention_days``."""
        keep = timedelta(days=self.settings.evidence_retention_days)
        while True:
            try:
                await self.purge(self.evidence.now() - keep)
            except Exception:
                logger.exception("moderation evidence retention failed")
            await self.clock.sleep_until(self.clock.now() + RETENTION_EVERY_S)

    async def purge(self, before: Any) -> int:
        """Delete evidence files and records created before ``before`` (a datetime)."""
        records = await self.store.evidence_before(before)
        if records:
            await self.evidence.delete(records)
            await self.store.delete_evidence([r.id for r in records])
        return len(records)
