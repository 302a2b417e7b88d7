"""``GET /api/challenge`` and ``POST /api/session``: the door's two HTTP requests.

They only read the request (IP, cookies, a small JSON body) and delegate to
:class:`signaling.door.gate.Door`. The session token comes back in the body (for
``/ws?token=``) and as an HttpOnly, SameSite=Strict cookie; an under-age answer sets a
cookie that makes the refusal final for that browser session.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from signaling.door.gate import Door, DoorError

MAX_BODY_BYTES = 8_192
REFUSED_COOKIE = "duet_refused"
NO_STORE = {"Cache-Control": "no-store"}


def _door(request: Request) -> Door:
    door: Door = request.app.state.services.door
    return door


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _error(exc: DoorError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    body = {"error": exc.code, "message": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def challenge(request: Request) -> JSONResponse:
    """A proof-of-work challenge (``{"enabled": false}`` when the node has it off)."""
    device = request.query_params.get("device")
    if device is not None and len(device) > 64:
        device = None
    body = _door(request).challenge(_ip(request), device)
    return JSONResponse(body, headers=NO_STORE)


async def create_session(request: Request) -> JSONResponse:
    """Age answer + solved challenge + device id (+ display name) -> a session token."""
    door = _door(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(DoorError(415, "bad_request", "send application/json"))
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return _error(DoorError(413, "bad_request", "the request is too large"))
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return _error(DoorError(400, "bad_request", "the body is not valid JSON"))
    refused = request.cookies.get(REFUSED_COOKIE) == "1"
    secure = request.url.scheme == "https"
    try:
        issued = await door.open_session(_ip(request), body, refused)
    except DoorError as exc:
        response = _error(exc)
        if exc.code in ("underage", "refused"):
            # A session cookie: final for this browser session.
            response.set_cookie(
                REFUSED_COOKIE, "1", httponly=True, samesite="strict", secure=secure
            )
        return response
    claims = issued.claims
    ttl = int(door.settings.session_ttl_s)
    response = JSONResponse(
        {
            "token": issued.token,
            "session": claims.session,
            "name": claims.name,
            "expires_in": ttl,
        },
        headers=NO_STORE,
    )
    response.set_cookie(
        door.settings.cookie_name,
        issued.token,
        max_age=ttl,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response
