"""What a check's decision leads to: evidence first, then a ban, a hold or a review item.

:class:`Consequences` acts on ``ban``, ``hold`` and ``review`` decisions (anything else is
nothing to do). The sanction runs in its own task, held by the moderator's :class:`TaskSet`
and shielded from the caller, so that a ban ending the match (and so cancelling the
schedule that found it) cannot interrupt it half-way. No evidence, no ban: a failed write
leaves the visitor unbanned and still checked. One review item per visitor, match and
priority.
"""

import asyncio
import logging

from duet.person import Person
from duet.tasks import TaskSet
from moderation.check import CheckResult
from moderation.evidence import EvidenceWriter
from moderation.policy import Policy
from moderation.ports import (
    ClipSource,
)
from moderation.sanctions import Sanctions
from moderation.schedule import Backstops
from moderation.settings import ModerationSettings

logger = logging.getLogger(__name__)


class Consequences:
    """Evidence and sanctions for the decisions of one moderator."""

    def __init__(
        self,
        settings: ModerationSettings,
        sanctions: Sanctions,
        evidence: EvidenceWriter,
        clips: ClipSource | None,
        backstops: Backstops,
        policy: Policy,
        tasks: TaskSet,
    ) -> None:
        self.settings = settings
        self.sanctions = sanctions
        self.evidence = evidence
        self.clips = clips
        self.backstops = backstops
        self.policy = policy
        self.working = 0
        """Work in threads right now (evidence, sanctions, the pre-screen's face lookup)."""
        self._tasks = tasks
        self._reviewed: dict[str, set[tuple[str, str]]] = {}

    def forget_match(self, match_id: str) -> None:
        """The match ended: its review items may be made again in a later match."""
        self._reviewed.pop(match_id, None)

    async def act(self, subject: Person, match_id: str, result: CheckResult) -> None:
        decision = result.decision
        if decision.action not in ("ban", "review", "hold"):
            return
        if decision.action in ("ban", "hold"):
            # Only the visitor themself stops being checked; the partner's schedule runs on.
            self.backstops.stop(subject.visitor)
        if decision.action == "review":
            key = (subject.visitor, decision.priority or "normal")
            reviewed = self._reviewed.setdefault(match_id, set())
            if key in reviewed:
                return  # one review item per visitor, match and priority
            reviewed.add(key)
        task = self._tasks.spawn(self._sanction(subject, match_id, result))
        await asyncio.shield(task)

    async def _sanction(self, subject: Person, match_id: str, result: CheckResult) -> None:
        decision = result.decision
        self.working += 1
        try:
            clip = await self._clip(subject.visitor)
            evidence = await self.evidence.frame(
                subject.visitor, match_id, result.frame, result.verdict, decision.reason, clip
            )
            if decision.action == "ban":
                await self.sanctions.ban(
                    subject, decision.reason, "video", self.settings.ban_duration_s, evidence
                )
                self.policy.forget(subject.visitor)
            elif decision.action == "hold":
                await self.sanctions.hold(
                    subject, match_id, decision.reason, evidence, self.settings.hold_max_s
                )
            else:
                await self.sanctions.review(
                    subject, match_id, decision.priority or "normal", decision.reason, evidence
                )
        except Exception:
            # No evidence, no ban: a failed write leaves the visitor unbanned (logged), and
            # still checked.
            if decision.action in ("ban", "hold"):
                self.backstops.resume(subject.visitor)
            logger.exception(
                "moderation could not record a %s for %s", decision.action, subject.visitor
            )
        finally:
            self.working -= 1

    async def _clip(self, visitor: str) -> bytes | None:
        """The visitor's last seconds of video, or ``None`` (off, none, or it failed: a
        clip is extra evidence, never a reason not to act)."""
        if self.clips is None:
            return None
        try:
            return await self.clips.clip(visitor)
        except Exception:
            logger.exception("no evidence clip of %s", visitor)
            return None
