"""``GET /api/ice``: the ICE servers (STUN, TURN with a fresh credential) for a browser.

Only for visitors with a session (the cookie a browser gets from ``POST /api/session``, or
``?token=`` for other clients): TURN credentials are relay capacity, not for anyone who
asks. Without a genuine session: 401 ``session_required``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from signaling.door.gate import Door
from signaling.protocol.http import ApiError


async def ice_servers(request: Request) -> JSONResponse:
    """STUN plus the nearest TURN regions, with a fresh time-limited credential."""
    services = request.app.state.services
    door: Door = services.door
    token = request.cookies.get(door.settings.cookie_name) or request.query_params.get("token")
    if door.verify(token) is None:
        raise ApiError(401, "session_required", "get a session first (POST /api/session)")
    ip = request.client.host if request.client else ""
    body = services.ice.for_browser(ip, now=services.clock.wall().timestamp())
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
