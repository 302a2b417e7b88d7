"""One node's moderation, assembled from its settings and the ports the node provides.

The composition root builds a :class:`Moderation` with a frame source (the SFU tap), an
enforcer (the lobby) and a store (the database), forwards the lobby's match events to it,
and asks it about chat messages and bans. With ``moderation.enabled = false`` no worker
starts, no video is checked, and chat is only sanitised.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from duet.person import Person
from moderation.classifiers import ClassifierConfig
from moderation.clock import SYSTEM_CLOCK, Clock
from moderation.errors import ModerationError
from moderation.evidence import EvidenceWriter
from moderation.moderator import VideoModerator
from moderation.ports import (
    ClipSource,
    Enforcer,
    FrameChecker,
    FrameSource,
    MatchRef,
    VideoGate,
)
from moderation.records import BanRecord, ModerationStore, ReviewItem
from moderation.sanctions import Sanctions
from moderation.settings import ModerationSettings
from moderation.shared import SharedBudget
from moderation.stats import ModerationStats
from moderation.text import ChatModerator, ChatOutcome
from moderation.workers import WorkerPool

logger = logging.getLogger(__name__)


def classifier_config(settings: ModerationSettings) -> ClassifierConfig:
    return ClassifierConfig(
        unsafe_thresholds=settings.unsafe_thresholds.by_class(),
        minor_age=settings.minor_age,
        face_min_score=settings.face_min_score,
    )


class ModerationDown(ModerationError, RuntimeError):
    """Moderation is on but its classifier cannot be loaded (start-up, production)."""

    code = "moderation_down"


class Moderation:
    def __init__(
        self,
        settings: ModerationSettings,
        frames: FrameSource,
        enforcer: Enforcer,
        store: ModerationStore,
        clock: Clock | None = None,
        checker: FrameChecker | None = None,
        shared: SharedBudget | None = None,
        gate: VideoGate | None = None,
        clips: ClipSource | None = None,
    ) -> None:
        """``checker`` replaces the worker pool (unit tests pass an in-process fake);
        ``shared``: the budgets all nodes share through Redis (``redis_url``); ``gate``:
        the SFU's outbound video gate, for ``settings.prescreen``; ``clips``: the SFU's
        evidence clips, for ``settings.evidence_clip_s``."""
        self.settings = settings
        self.store = store
        self.clock = clock or SYSTEM_CLOCK
        self.stats = ModerationStats()
        self.evidence = EvidenceWriter(settings.evidence_dir, self.clock.wall)
        self.sanctions = Sanctions(store, enforcer, self.stats, self.clock.wall)
        self.pool: WorkerPool | None = None
        if checker is None and settings.enabled:
            self.pool = WorkerPool(
                settings.classifier,
                classifier_config(settings),
                size=settings.workers,
                timeout=settings.check_timeout_s,
                max_pending=settings.max_pending_checks,
                clock=self.clock,
            )
            checker = self.pool
        self.video: VideoModerator | None = None
        if checker is not None and settings.enabled:
            self.video = VideoModerator(
                settings,
                checker,
                frames,
                self.sanctions,
                self.evidence,
                store,
                self.clock,
                gate,
                clips,
            )
            self.video.shared = shared
        text = (
            settings.text
            if settings.enabled
            else settings.text.model_copy(update={"enabled": False})
        )
        self.chat = ChatModerator(text, self.sanctions, self.evidence, self.clock)

    @property
    def prescreens(self) -> bool:
        """Whether new partners' video is held until checked (the SFU must hold it)."""
        return self.video is not None and self.video.gate is not None

    def start(self) -> None:
        if self.pool is not None:
            self.pool.start()
        if self.video is not None:
            self.video.start()
        self.chat.start()
        logger.info(
            "moderation %s (classifier %s, %d worker(s))",
            "on" if self.settings.enabled else "OFF",
            self.settings.classifier,
            self.settings.workers,
        )

    async def require_classifier(self) -> None:
        """Wait until a worker has loaded the classifier; :class:`ModerationDown` (naming
        the setting) if it cannot be imported or built. For ``mode = "production"``: a
        node must never serve video unmoderated because of a broken setting."""
        if self.pool is None:
            return  # moderation off, remote workers, or a checker handed in
        error = await self.pool.first_outcome(self.settings.startup_timeout_s)
        if error is not None:
            raise ModerationDown(
                f"moderation.classifier = {self.settings.classifier!r} cannot be loaded: "
                f"{error}. Fix moderation.classifier (env DUET_MODERATION__CLASSIFIER) or "
                "install its dependencies; moderation.enabled = false turns video "
                "moderation off explicitly."
            )

    @property
    def status(self) -> Literal["off", "starting", "up", "down"]:
        """``down``: moderation is on but no classifier ever loaded (a broken setting):
        video goes unchecked."""
        if not self.settings.enabled:
            return "off"
        if self.pool is None:
            return "up"
        if self.pool.ever_ready:
            return "up"
        return "down" if self.pool.load_error is not None else "starting"

    async def close(self) -> None:
        if self.video is not None:
            await self.video.close()
        await self.chat.close()
        if self.pool is not None:
            await self.pool.close()

    # --- events -----------------------------------------------------------------------

    def match_started(self, match_id: str, *subjects: Person) -> None:
        """A video match started: schedule checks of its visitors on this node (both, or
        the one whose media this node holds when the partner is on another node)."""
        if self.video is not None and subjects:
            self.video.match_started(MatchRef(match_id, tuple(subjects)))

    def match_ended(self, match_id: str) -> None:
        if self.video is not None:
            self.video.match_ended(match_id)

    def visitor_left(self, visitor: str) -> None:
        if self.video is not None:
            self.video.visitor_left(visitor)
        self.chat.visitor_left(visitor)

    async def chat_message(self, subject: Person, match: str | None, text: str) -> ChatOutcome:
        return await self.chat.review(subject, match, text)

    async def check_reported(
        self, subject: Person, match_id: str, reporter: str = ""
    ) -> Literal["ban", "review", "clean", "unchecked"]:
        """An image report: check ``subject``'s live video now (bypassing its schedule,
        from the report budget; ``reporter`` keys the per-reporter cap). Returns ``ban``
        (enforced), ``review`` (sent to reviewers, or held), ``clean`` (nothing seen: the
        report is dropped) or ``unchecked`` (moderation off, over budget, no frame,
        breaker open)."""
        if self.video is None:
            return "unchecked"
        decision = await self.video.check_reported(subject, match_id, reporter)
        if decision is None:
            return "unchecked"
        if decision.action == "ban":
            return "ban"
        if decision.action in ("review", "hold"):
            return "review"
        return "clean"

    async def ban_for_reports(
        self,
        subject: Person,
        match_id: str | None,
        messages: list[str],
        reason: str,
        duration_s: float,
    ) -> None:
        """Ban after enough distinct people reported ``subject`` (verbal reasons), with
        the chat transcript as evidence (written first, as for every ban) and a review
        item for a reviewer to confirm or lift the ban."""
        evidence = await self.evidence.text(subject.visitor, match_id, messages, reason)
        await self.sanctions.ban(subject, reason, "report", duration_s, evidence, confirm=True)

    async def active_ban(
        self, ip: str, session: str | None = None, device: str | None = None
    ) -> BanRecord | None:
        return await self.store.active_ban(self.clock.wall(), ip, session, device)

    async def active_hold(self, subject: Person) -> ReviewItem | None:
        """The hold that keeps ``subject`` (visitor id, session or device) out of
        matching now, if any (asked at every ``join``; the store is the truth, shared by
        all nodes; a hold made earlier still applies with moderation turned off)."""
        return await self.store.active_hold(
            self.clock.wall(), subject.visitor, subject.session, subject.device
        )

    def released(self, visitor: str) -> None:
        """A reviewer cleared ``visitor``'s hold: they are checked again like anyone."""
        if self.video is not None:
            self.video.released(visitor)

    # --- metrics ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every counter as plain data (for ``/metrics``, ``/healthz`` and benchmarks)."""
        s = self.stats
        latency = s.latency_s
        data: dict[str, Any] = {
            "enabled": self.settings.enabled,
            "status": self.status,
            "checks_scheduled": s.checks_scheduled,
            "checks_run": s.checks_run,
            "report_checks": s.report_checks,
            "checks_skipped": dict(s.checks_skipped),
            "checks_failed": dict(s.checks_failed),
            "verdicts": dict(s.verdicts),
            "faces": dict(s.faces),
            "prescreens": dict(s.prescreens),
            "face_gate": dict(s.face_gate),
            "latency_s": {
                "buckets": list(latency.buckets),
                "counts": list(latency.counts),
                "sum": latency.total,
                "count": latency.count,
                "p50": latency.quantile(0.5),
                "p95": latency.quantile(0.95),
            },
            "bans": dict(s.bans),
            "review_items": dict(s.review_items),
            "holds": s.holds,
            "messages_checked": s.messages_checked,
            "messages_flagged": dict(s.messages_flagged),
            "warnings": s.warnings,
            "evidence_written": self.evidence.written,
            "evidence_purged": self.evidence.purged,
        }
        if self.video is not None:
            data["breaker"] = {
                "state": self.video.breaker.state,
                "transitions": dict(self.video.breaker.stats.transitions),
            }
            data["daily_budget_used"] = self.video.backstops.budget.used
        if self.pool is not None:
            p = self.pool.stats
            data["workers"] = {
                "ready": self.pool.ready_count,
                "spawned": p.spawned,
                "restarts": p.restarts,
                "deaths": p.deaths,
                "timeouts": p.timeouts,
                "errors": p.errors,
                "load_failures": p.load_failures,
                "pids": list(p.pids),
            }
        return data
