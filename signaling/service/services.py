"""The composition root: builds and wires every long-lived object of a Duet node.

``duet serve`` -> :func:`signaling.service.app.create_app` -> :meth:`Services.build`. This is the
only module that knows how the packages fit together: it hands the media plane (an
in-process SFU router, or a cluster of SFU worker processes) and the storage to the
lobby, and the lobby, moderation and the audit log to the reviewer console. Nothing is
created at import time; :meth:`Services.start` and :meth:`Services.stop` run in the
application's lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from duet.clock import SYSTEM_CLOCK, Clock
from moderation import Moderation
from moderation.service import ModerationDown
from moderation.shared import SharedBudget, SharedStrikes, SharedWeights
from moderation.stream import StreamChecker
from sfu import Router
from sfu.cluster import SfuCluster
from sfu.plane import MediaPlane
from signaling.config.keys import KeyRing, key_ring
from signaling.config.settings import Settings
from signaling.console.console import Console, sampler_of
from signaling.door.appeals import Appeals, AppealTokens
from signaling.door.gate import Door
from signaling.door.limits import ChatBackoff, RateLimits, limit_storage
from signaling.room.enforcement import LobbyEnforcer, LobbyVideoGate, TapFrameSource
from signaling.room.lobby import Lobby
from signaling.room.pace import Pace
from signaling.room.reports import ReportDesk
from signaling.room.visitor import Match, Visitor
from signaling.routing.matchmaker import RedisMatchmaker
from signaling.routing.room import SharedRoom
from signaling.service.build import build_info
from signaling.service.metrics import Metrics
from signaling.service.retention import RetentionJob
from signaling.storage import Database, MatchStore, SqlModerationStore, VisitorSessionStore
from signaling.storage.appeals import AppealStore
from signaling.storage.audit import AuditLog
from signaling.storage.bans import BanStore
from signaling.storage.qa import QaStore
from signaling.storage.reports import ReportStore
from signaling.storage.writer import BackgroundWriter
from turn import IceServers

logger = logging.getLogger(__name__)


def media_plane(settings: Settings, keys: KeyRing | None = None) -> MediaPlane:
    """The SFU in this process (``sfu.workers = 0``), or a cluster of worker processes.
    ``keys`` (default: the node's) sign and verify media-pipe subscriptions."""
    secret = (keys or key_ring(settings)).raw
    workers = settings.sfu.worker_count
    # Pre-screen: every new link's video is held until moderation releases it. Without
    # moderation nothing would release it, so nothing is held (fail open).
    prescreen = settings.moderation.enabled and settings.moderation.prescreen
    # Evidence clips: each visitor's last seconds of video stay at the SFU (bounded).
    clip_s = settings.moderation.evidence_clip_s if settings.moderation.enabled else 0.0
    if workers == 0:
        return Router(settings.sfu, secret=secret, prescreen=prescreen, clip_s=clip_s)
    return SfuCluster(
        settings.sfu,
        secret,
        workers,
        log_level=settings.log_level,
        prescreen=prescreen,
        clip_s=clip_s,
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    media: MediaPlane
    writer: BackgroundWriter
    lobby: Lobby
    ice: IceServers
    moderation: Moderation
    metrics: Metrics
    appeals: Appeals
    console: Console
    limits: RateLimits
    door: Door
    reports: ReportDesk
    retention: RetentionJob
    redis: Redis | None = None
    shared: SharedRoom | None = None
    keys: KeyRing = field(default_factory=KeyRing.ephemeral)
    """The node's secret keys (:mod:`signaling.config.keys`)."""
    clock: Clock = SYSTEM_CLOCK
    """The node's one clock (:mod:`duet.clock`): every part built here takes its time."""

    @classmethod
    def build(cls, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Services:
        """``clock``: the one source of time of everything built here (tests: a fake)."""
        db = Database(settings.database_url)
        audit = AuditLog(db, now=clock.wall)
        keys = key_ring(settings)
        secret = keys.raw
        media = media_plane(settings, keys)
        writer = BackgroundWriter()
        match_store = MatchStore(db)
        wall_s = lambda: clock.wall().timestamp()  # noqa: E731 -- POSIX seconds
        limits = RateLimits(settings.limits, limit_storage(settings.redis_url), wall=wall_s)
        session_store = VisitorSessionStore(db)
        door = Door(
            settings.door,
            keys.keys,
            limits,
            submit=writer.submit,
            records=session_store,
            clock=clock.now,
            wall=wall_s,
        )
        lm = settings.limits
        backoff = ChatBackoff(
            lm.chat_timeout_s, lm.chat_timeout_max_s, lm.chat_violations_to_disconnect, clock.now
        )
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        appeals = Appeals(
            AppealTokens(secret),
            BanStore(db),
            AppealStore(db),
            settings.admin.appeal_max_length,
            clock.wall,
        )
        ms = settings.moderation
        qa = QaStore(db, audit, sampler_of(ms.qa_sample_rate, ms))
        # Reports go to the reviewer console's store (the database), audited.
        report_store = ReportStore(db, audit)
        screening = _Screening(
            settings,
            media,
            appeals,
            report_store,
            SqlModerationStore(db, audit, qa),
            redis=redis,
            clock=clock,
        )
        lobby = Lobby(
            settings,
            media,
            match_store,
            writer,
            clock=clock.now,
            wall=clock.wall,
            keys=keys,
            pace=Pace(limits, backoff, door.suspect),
            crossing=None if redis is None else _shared_room(settings, redis, clock),
            moderation=screening.moderation,
            reports=screening.reports,
        )
        shared = lobby.shared if isinstance(lobby.shared, SharedRoom) else None
        media.on_lost(lobby.media_lost)
        ice = IceServers(settings.turn)
        moderation, reports = lobby.moderation, lobby.reports
        enforcer, gate = screening.enforcer, screening.gate
        assert moderation is not None and reports is not None
        assert enforcer is not None and gate is not None
        retention = RetentionJob(
            settings.retention,
            now=clock.wall,
            sleep=clock.sleep,
            matches=match_store.purge_ended,
            sessions=session_store.purge_expired,
            chat_attachments=report_store.purge_transcripts,
        )
        _forward_lobby_events(lobby, moderation, gate if moderation.prescreens else None)
        metrics = Metrics.build(
            build_info(), lobby, lobby, clock=lobby.clock, router=media, moderation=moderation
        )
        metrics.watch_door(door, limits, lobby.pace, reports, retention, lobby.blocks)
        console = Console.build(
            settings.admin,
            secret,
            db,
            audit,
            appeals,
            report_store,
            enforcer,
            moderation,
            media,
            forget_ban=None if shared is None else shared.presence.forget_ban,
            now=clock.wall,
            monotonic=clock.now,
            qa=qa,
        )
        metrics.watch_qa(console.precision)
        return cls(
            settings=settings,
            db=db,
            media=media,
            writer=writer,
            lobby=lobby,
            ice=ice,
            moderation=moderation,
            metrics=metrics,
            appeals=appeals,
            console=console,
            limits=limits,
            door=door,
            reports=reports,
            retention=retention,
            redis=redis,
            shared=shared,
            keys=keys,
            clock=clock,
        )

    async def start(self) -> None:
        await self.db.migrate()
        await self.media.start()
        self.writer.start()
        self.moderation.start()
        if self.settings.mode == "production" and self.settings.moderation.enabled:
            try:
                await self.moderation.require_classifier()
            except ModerationDown as exc:
                logger.critical("refusing to serve unmoderated video: %s", exc)
                await self.moderation.close()
                raise
        self.retention.start()
        if self.shared is not None:
            await self.shared.start()
        logger.info(
            "duet node %s started (forwarding=%s, %s)",
            self.settings.node_name,
            self.settings.sfu.forwarding,
            "several nodes over Redis" if self.shared is not None else "one node",
        )

    async def stop(self) -> None:
        for visitor in list(self.lobby.visitors.values()):
            await self.lobby.disconnect(visitor)
        if self.shared is not None:
            await self.shared.close()
        await self.retention.close()
        await self.reports.close()
        await self.moderation.close()
        await self.media.close()
        await self.writer.close()
        await self.db.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.ice.close()


async def active_ban(services: Services, ip: str, session: str | None, device: str | None) -> Any:
    """The ban that covers a visitor now: the shared cache first (several nodes), then the
    database (the source of truth), whose answer is cached."""
    shared = services.shared
    if shared is not None:
        cached = await shared.presence.cached_ban(ip, session, device)
        if cached is not None:
            return cached
    ban = await services.moderation.active_ban(ip, session, device)
    if ban is not None and shared is not None:
        await shared.presence.cache_ban(ban)
    return ban


@dataclass
class _Screening:
    """Moderation and the report desk of a lobby, built from the lobby while the lobby is
    built: moderation's enforcer and pre-screen gate act on the lobby, and the lobby asks
    moderation about chat and holds. What was built is kept here for the rest of the
    composition (the console needs the enforcer, the events the gate)."""

    settings: Settings
    media: MediaPlane
    appeals: Appeals
    report_store: ReportStore
    moderation_store: SqlModerationStore
    redis: Redis | None
    clock: Clock
    enforcer: LobbyEnforcer | None = None
    gate: LobbyVideoGate | None = None

    def moderation(self, lobby: Lobby) -> Moderation:
        settings, redis = self.settings, self.redis
        shared = lobby.shared if isinstance(lobby.shared, SharedRoom) else None
        checker = None
        if settings.moderation.enabled and settings.moderation.remote_workers and redis:
            checker = StreamChecker(redis, timeout=settings.moderation.check_timeout_s)
        self.enforcer = LobbyEnforcer(
            lobby, self.appeals, on_ban=None if shared is None else shared.presence.cache_ban
        )
        self.gate = LobbyVideoGate(lobby, self.media)
        moderation = Moderation(
            settings.moderation,
            frames=TapFrameSource(self.media),
            enforcer=self.enforcer,
            store=self.moderation_store,
            checker=checker,
            shared=None
            if redis is None
            else SharedBudget(
                redis, settings.moderation.max_checks_per_s, settings.moderation.daily_budget
            ),
            gate=self.gate,
            clips=self.media,
            clock=self.clock,
        )
        if redis is not None:
            # Strikes follow a person to any node.
            moderation.chat.shared = SharedStrikes(redis, settings.moderation.text.strike_window_s)
        return moderation

    def reports(self, lobby: Lobby) -> ReportDesk:
        settings, redis = self.settings, self.redis
        return ReportDesk(
            settings.reports,
            self.report_store,
            lobby.moderation,
            self.clock.now,
            live_video=lobby.sends_video,
            # Report weights follow a person to any node.
            shared_weights=None
            if redis is None
            else SharedWeights(redis, settings.reports.verbal_window_s),
        )


def _shared_room(settings: Settings, redis: Redis, clock: Clock) -> Callable[[Lobby], SharedRoom]:
    """Several nodes: the lobby's side over Redis (matching, node bus), built from it."""

    def build(lobby: Lobby) -> SharedRoom:
        assert settings.redis_url is not None
        return SharedRoom(
            lobby,
            RedisMatchmaker(
                redis,
                settings.node_name,
                rematch_cooldown=settings.matching.rematch_cooldown_s,
                preference_wait=settings.matching.preference_wait_s,
            ),
            Redis.from_url(settings.redis_url),
            block_ttl_s=settings.blocks.ttl_s,
            block_ip_ttl_s=settings.blocks.ip_ttl_s,
            clock=clock,
        )

    return build


def _forward_lobby_events(
    lobby: Lobby, moderation: Moderation, gate: LobbyVideoGate | None
) -> None:
    """Video matches get moderation schedules (and pre-screens, with ``gate``); ends and
    departures cancel them."""

    def started(match: Match) -> None:
        if match.mode == "video":
            # Each node moderates the visitors whose media it holds.
            moderation.match_started(match.id, *(lobby.subject(v) for v in match.local()))

    def ended(match: Match, reason: str) -> None:
        moderation.match_ended(match.id)

    def left(visitor: Visitor) -> None:
        moderation.visitor_left(visitor.id)
        if gate is not None:
            gate.forget(visitor.id)

    def rewired(match: Match, listener: str) -> None:
        if gate is not None:
            gate.rewired(match, listener)

    def remote_open(match: Match, listener: str, keyframe: int | None) -> None:
        if gate is not None:
            gate.remote_open(match, listener, keyframe)

    lobby.on("match_started", started)
    lobby.on("match_ended", ended)
    lobby.on("visitor_left", left)
    lobby.on("media_rewired", rewired)
    lobby.on("remote_video_open", remote_open)
