"""The Starlette application: routes, static client, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from signaling.config.settings import Settings
from signaling.console import routes as admin
from signaling.door.headers import SecurityMiddleware
from signaling.door.proxy import ProxyHeadersMiddleware
from signaling.protocol.http import ApiError, api_error_response
from signaling.service.api import appeals, client, health, ice, metrics, session
from signaling.service.services import Services
from signaling.service.ws import websocket_endpoint


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
        Route("/source", health.source),
        Route("/api/ice", ice.ice_servers),
        Route("/api/challenge", session.challenge),
        Route("/api/session", session.create_session, methods=["POST"]),
        Route("/metrics", metrics.metrics),
        Route("/api/appeals", appeals.file_appeal, methods=["POST"]),
        Route("/api/appeals/status", appeals.appeal_status, methods=["POST"]),
        WebSocketRoute("/ws", websocket_endpoint),
        *admin.routes(),
        *client.routes(),
    ]
    middleware = [
        # Outermost: who the visitor is and their scheme, before limits and headers.
        Middleware(ProxyHeadersMiddleware, trusted=settings.trusted_proxies),
        Middleware(
            SecurityMiddleware,
            limits=services.limits,
            hsts_max_age_s=settings.door.hsts_max_age_s,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error_response},
    )
    app.state.services = services
    return app
