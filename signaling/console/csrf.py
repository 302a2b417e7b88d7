"""CSRF protection of the reviewer API.

Every state-changing request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token
in the ``X-CSRF-Token`` header. The token is the itsdangerous signature of the session token
under a key of the node's ring (salt ``duet.csrf``, see :mod:`signaling.config.signing`):
nothing extra is stored, it changes with every login, and a page on another origin can
neither read it nor set the header without a CORS preflight (which Duet never allows). A
present ``Origin`` header must also name this host. The session cookie is
``SameSite=Strict`` besides; these checks do not rely on it.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.requests import Request

from signaling.config.signing import signer

HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token(secret: bytes, session_token: str) -> str:
    """The CSRF token of ``session_token`` under one key (each key of the ring gives one)."""
    return signer(secret, "csrf").get_signature(session_token).decode()


def same_origin(request: Request) -> bool:
    """No ``Origin`` header (same-origin GETs, non-browser clients), or one naming this host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def valid(request: Request, expected: str | Sequence[str]) -> bool:
    """Whether a state-changing ``request`` carries the ``expected`` token, or one of them
    (one per key of the ring: rotating keys keeps open consoles working). Safe methods
    need none."""
    if request.method not in UNSAFE_METHODS:
        return True
    sent = request.headers.get(HEADER, "").encode()
    tokens = (expected,) if isinstance(expected, str) else tuple(expected)
    return same_origin(request) and any(hmac.compare_digest(sent, t.encode()) for t in tokens)
