"""``GET /healthz``: liveness and a few counts, for load balancers and humans."""

from __future__ import annotations

from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import JSONResponse


async def healthz(request: Request) -> JSONResponse:
    services = request.app.state.services
    lobby = services.lobby
    return JSONResponse(
        {
            "status": "ok",
            "version": version("duet"),
            "visitors": len(lobby.visitors),
            "waiting": {mode: lobby.matchmaker.waiting(mode) for mode in ("video", "text")},
            "forwarding": services.settings.sfu.forwarding,
        }
    )
