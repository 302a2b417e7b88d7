"""The composition root: builds and wires every long-lived object of a Duet node.

``duet serve`` -> :func:`signaling.app.create_app` -> :meth:`Services.build`. This is the
only module that knows how the packages fit together: it hands the SFU router and the
storage to the lobby, and the lobby, moderation and the audit log to the reviewer console.
Nothing is created at import time; :meth:`Services.start` and :meth:`Services.stop` run in
the application's lifespan.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from moderation import Moderation
from moderation.evidence import utc_now
from sfu import Router
from signaling.admin.console import Console
from signaling.appeals import Appeals, AppealTokens
from signaling.build import build_info
from signaling.enforcement import LobbyEnforcer, TapFrameSource
from signaling.lobby import Lobby
from signaling.metrics import Metrics
from signaling.settings import Settings
from signaling.storage import Database, MatchStore, SqlModerationStore
from signaling.storage.appeals import AppealStore
from signaling.storage.audit import AuditLog
from signaling.storage.bans import BanStore
from signaling.visitor import Match, Visitor
from signaling.writer import BackgroundWriter
from turn import IceServers

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    router: Router
    writer: BackgroundWriter
    lobby: Lobby
    ice: IceServers
    moderation: Moderation
    metrics: Metrics
    appeals: Appeals
    console: Console

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.database_url)
        audit = AuditLog(db)
        secret = settings.secret_key.get_secret_value().encode()
        router = Router(settings.sfu)
        writer = BackgroundWriter()
        lobby = Lobby(settings, router, MatchStore(db), writer, clock=time.monotonic)
        ice = IceServers(settings.turn)
        appeals = Appeals(
            AppealTokens(secret),
            BanStore(db),
            AppealStore(db),
            settings.admin.appeal_max_length,
            utc_now,
        )
        moderation = Moderation(
            settings.moderation,
            frames=TapFrameSource(router),
            enforcer=LobbyEnforcer(lobby, appeals),
            store=SqlModerationStore(db, audit),
        )
        lobby.moderation = moderation
        _forward_lobby_events(lobby, moderation)
        metrics = Metrics.build(
            build_info(), lobby, lobby, clock=lobby.clock, router=router, moderation=moderation
        )
        console = Console.build(
            settings.admin, secret, db, audit, appeals, lobby, moderation, router
        )
        return cls(
            settings=settings,
            db=db,
            router=router,
            writer=writer,
            lobby=lobby,
            ice=ice,
            moderation=moderation,
            metrics=metrics,
            appeals=appeals,
            console=console,
        )

    async def start(self) -> None:
        await self.db.migrate()
        self.router.start()
        self.writer.start()
        self.moderation.start()
        logger.info("duet node started (forwarding=%s)", self.settings.sfu.forwarding)

    async def stop(self) -> None:
        for visitor in list(self.lobby.visitors.values()):
            await self.lobby.disconnect(visitor)
        await self.moderation.close()
        await self.router.close()
        await self.writer.close()
        await self.db.close()
        self.ice.close()


def _forward_lobby_events(lobby: Lobby, moderation: Moderation) -> None:
    """Video matches get moderation schedules; ends and departures cancel them."""

    def started(match: Match) -> None:
        if match.mode == "video":
            moderation.match_started(match.id, lobby.subject(match.a), lobby.subject(match.b))

    def ended(match: Match, reason: str) -> None:
        moderation.match_ended(match.id)

    def left(visitor: Visitor) -> None:
        moderation.visitor_left(visitor.id)

    lobby.on("match_started", started)
    lobby.on("match_ended", ended)
    lobby.on("visitor_left", left)
