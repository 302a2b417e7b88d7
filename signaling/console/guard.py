"""The guard in front of every ``/api/admin/`` route: login, CSRF, role.

Routes under ``/api/admin/`` are :class:`AdminRoute` s, each declaring the least role it
needs (``route.role``), so the route table itself says who may do what, and a test sweeps
it. For every request the guard, in this order:

1. resolves the session cookie to a :class:`~signaling.console.sessions.Reviewer`
   (401 ``unauthenticated`` if there is none, it expired, or the account is disabled);
2. for POST/PUT/PATCH/DELETE, checks the ``X-CSRF-Token`` header and the ``Origin``
   (403 ``csrf``);
3. checks the role (403 ``forbidden``: a moderator on an admin route);

then calls the endpoint with the reviewer. Every answer is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from signaling.console import csrf
from signaling.console.console import console_of
from signaling.console.sessions import COOKIE, Reviewer
from signaling.protocol.http import ApiError
from signaling.storage.accounts import Role

PREFIX = "/api/admin/"

AdminEndpoint = Callable[[Request, Reviewer], Awaitable[Response]]


async def authenticate(request: Request) -> Reviewer:
    token = request.cookies.get(COOKIE, "")
    reviewer = await console_of(request).sessions.resolve(token) if token else None
    if reviewer is None:
        raise ApiError(401, "unauthenticated", "log in first (or your session expired)")
    return reviewer


def guarded(endpoint: AdminEndpoint, role: Role) -> Callable[[Request], Awaitable[Response]]:
    async def guard(request: Request) -> Response:
        reviewer = await authenticate(request)
        if not csrf.valid(request, reviewer.accepted_csrf or reviewer.csrf):
            raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token (reload the console)")
        if not reviewer.may(role):
            raise ApiError(403, "forbidden", f"this needs the {role} role")
        response = await endpoint(request, reviewer)
        response.headers["Cache-Control"] = "no-store"
        return response

    guard.__name__ = endpoint.__name__
    guard.__doc__ = endpoint.__doc__
    return guard


class AdminRoute(Route):
    """A route of the reviewer API; ``role`` is the least role that may call it."""

    def __init__(
        self, path: str, endpoint: AdminEndpoint, *, role: Role, methods: Sequence[str]
    ) -> None:
        if not path.startswith(PREFIX):
            raise ValueError(f"admin routes live under {PREFIX}: {path}")
        self.role: Role = role
        super().__init__(path, guarded(endpoint, role), methods=list(methods))
