"""HTTP hardening as one pure ASGI middleware: security headers on every response and a
per-IP request limit (429 with ``Retry-After``).

* ``Content-Security-Policy``: scripts, styles, workers and connections from the page's
  own origin only; no inline script or style, no plugins, never framed.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` (old browsers), ``Permissions-Policy`` (camera and
  microphone for this origin only), ``Cross-Origin-Opener-Policy: same-origin``.
* ``Strict-Transport-Security`` when the request came over https (``scope["scheme"]``;
  behind a proxy, :mod:`signaling.door.proxy` sets it from a trusted proxy's headers).

WebSocket handshakes are not touched here: ``/ws`` checks its Origin and limits its
connections itself (:mod:`signaling.service.ws`).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signaling.door.limits import RateLimits

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "worker-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityMiddleware:
    """Adds :data:`SECURITY_HEADERS` (and HSTS over https) and refuses HTTP requests over
    ``limits.http_per_ip`` with 429."""

    def __init__(self, app: ASGIApp, limits: RateLimits, hsts_max_age_s: int) -> None:
        self.app = app
        self.limits = limits
        self.hsts = (
            f"max-age={hsts_max_age_s}; includeSubDomains".encode() if hsts_max_age_s else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if self.hsts is not None and scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", self.hsts))
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if not await self.limits.hit("http_per_ip", ip):
            retry = await self.limits.retry_after("http_per_ip", ip)
            await _too_many(send, retry, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                names = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in names)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _too_many(send: Send, retry_after: int, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(
        {"error": "rate_limited", "message": "too many requests", "retry_after": retry_after}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
                (b"cache-control", b"no-store"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
