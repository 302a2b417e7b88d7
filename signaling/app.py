"""The Starlette application: routes, static client, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from signaling.api import health, ice, metrics
from signaling.services import Services
from signaling.settings import Settings
from signaling.ws import websocket_endpoint


def client_directory() -> Path:
    """Where the browser client's static files are (inside the installed ``client``)."""
    return Path(str(files("client")))


def create_app(settings: Settings) -> Starlette:
    """Build the app for ``settings``. Services start and stop with the app's lifespan."""
    services = Services.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    routes = [
        Route("/healthz", health.healthz),
        Route("/api/ice", ice.ice_servers),
        Route("/metrics", metrics.metrics),
        WebSocketRoute("/ws", websocket_endpoint),
        Mount("/", StaticFiles(directory=client_directory(), html=True), name="client"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return app
