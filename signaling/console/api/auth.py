"""Logging in and out: ``POST /api/auth/login``, ``GET /api/auth/session``,
``POST /api/admin/logout``.

Login is the one reviewer endpoint without a session: it takes JSON only (a cross-site
form cannot send it without a CORS preflight), refuses a foreign ``Origin``, and is
throttled per name and per IP (:mod:`signaling.console.throttle`): 401 for a wrong name or
password (the same answer for both), 429 with ``Retry-After`` while locked.
"""

from __future__ import annotations

import logging
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signaling.console.accounts import normalise_name
from signaling.console.api.models import Login
from signaling.console.console import console_of
from signaling.console.csrf import same_origin
from signaling.console.sessions import COOKIE, Reviewer
from signaling.protocol.http import ApiError, read_json

logger = logging.getLogger(__name__)


def _locked(seconds: float) -> ApiError:
    return ApiError(
        429,
        "locked",
        "too many failed logins: try again later",
        {"Retry-After": str(max(1, math.ceil(seconds)))},
    )


async def login(request: Request) -> Response:
    if not same_origin(request):
        raise ApiError(403, "csrf", "cross-origin login refused")
    body = await read_json(request, Login)
    console = console_of(request)
    name = normalise_name(body.name)
    ip = request.client.host if request.client else "unknown"
    wait = console.throttle.retry_after(name, ip)
    if wait > 0:
        raise _locked(wait)
    found = await console.accounts.credentials(name)
    ok, new_hash = await console.passwords.verify(found[1] if found else None, body.password)
    if not ok or found is None or found[0].disabled:
        locked = console.throttle.failed(name, ip)
        logger.warning("failed reviewer login for %r from %s%s", name, ip, " (locked)" * locked)
        if locked:
            raise _locked(console.throttle.retry_after(name, ip))
        raise ApiError(401, "bad_credentials", "wrong name or password")
    account = found[0]
    console.throttle.succeeded(name)
    await console.accounts.logged_in(account.id, console.now(), new_hash)
    token, csrf = await console.sessions.open(account, ip)
    await console.audit.record(
        f"reviewer:{account.name}", "login", f"account:{name}", "", {"ip": ip}
    )
    response = JSONResponse(
        {"name": account.name, "role": account.role, "csrf": csrf},
        headers={"Cache-Control": "no-store"},
    )
    console.sessions.set_cookie(request, response, token)
    return response


async def session(request: Request) -> Response:
    """Who is logged in (``{"reviewer": null}`` when nobody is: never a 401, so the
    console's first look does not count as an error), and the CSRF token the console
    sends with every change."""
    token = request.cookies.get(COOKIE, "")
    reviewer = await console_of(request).sessions.resolve(token) if token else None
    body = None
    if reviewer is not None:
        body = {
            "name": reviewer.name,
            "role": reviewer.role,
            "csrf": reviewer.csrf,
            "expires_at": reviewer.expires_at.isoformat(),
        }
    return JSONResponse({"reviewer": body}, headers={"Cache-Control": "no-store"})


async def logout(request: Request, reviewer: Reviewer) -> Response:
    console = console_of(request)
    await console.sessions.close(reviewer)
    await console.audit.record(reviewer.actor, "logout", f"account:{reviewer.name}")
    response = JSONResponse({"ok": True})
    console.sessions.clear_cookie(request, response)
    return response
