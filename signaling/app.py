"""The Starlette application: routes, static client, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from signaling.api import client, health, ice, metrics, session
from signaling.door.headers import SecurityMiddleware
from signaling.services import Services
from signaling.settings import Settings
from signaling.ws import websocket_endpoint


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
        Route("/api/challenge", session.challenge),
        Route("/api/session", session.create_session, methods=["POST"]),
        Route("/metrics", metrics.metrics),
        WebSocketRoute("/ws", websocket_endpoint),
        *client.routes(),
    ]
    middleware = [
        Middleware(
            SecurityMiddleware,
            limits=services.limits,
            hsts_max_age_s=settings.door.hsts_max_age_s,
        )
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.services = services
    return app
