"""``GET /api/ice``: the ICE servers (STUN, TURN with a fresh credential) for a browser."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse


async def ice_servers(request: Request) -> JSONResponse:
    """STUN plus the nearest TURN regions, with a fresh time-limited credential."""
    ice = request.app.state.services.ice
    ip = request.client.host if request.client else ""
    body = ice.for_browser(ip, now=time.time())
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
