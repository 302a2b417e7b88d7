"""``GET /api/ice``: the ICE servers (STUN, TURN with a fresh credential) for a browser."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from turn import ice_configuration


async def ice_servers(request: Request) -> JSONResponse:
    settings = request.app.state.services.settings
    body = ice_configuration(settings.turn, now=time.time())
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
