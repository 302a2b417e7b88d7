"""The composition root: builds and wires every long-lived object of a Duet node.

``duet serve`` -> :func:`signaling.app.create_app` -> :meth:`Services.build`. This is the
only module that knows how the packages fit together: it hands the SFU router and the
storage to the lobby. Nothing is created at import time; :meth:`Services.start` and
:meth:`Services.stop` run in the application's lifespan.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sfu import Router
from signaling.build import build_info
from signaling.lobby import Lobby
from signaling.metrics import Metrics
from signaling.settings import Settings
from signaling.storage import Database, MatchStore
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
    metrics: Metrics

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.database_url)
        router = Router(settings.sfu)
        writer = BackgroundWriter()
        lobby = Lobby(settings, router, MatchStore(db), writer, clock=time.monotonic)
        ice = IceServers(settings.turn)
        metrics = Metrics.build(build_info(), lobby, lobby, clock=lobby.clock, router=router)
        return cls(
            settings=settings,
            db=db,
            router=router,
            writer=writer,
            lobby=lobby,
            ice=ice,
            metrics=metrics,
        )

    async def start(self) -> None:
        await self.db.migrate()
        self.router.start()
        self.writer.start()
        logger.info("duet node started (forwarding=%s)", self.settings.sfu.forwarding)

    async def stop(self) -> None:
        for visitor in list(self.lobby.visitors.values()):
            await self.lobby.disconnect(visitor)
        await self.router.close()
        await self.writer.close()
        await self.db.close()
        self.ice.close()
