"""Forwarded headers from trusted proxies only: who the visitor is, and whether they came
over https. One pure ASGI middleware for HTTP and WebSocket alike.

Only when the TCP peer lies in ``trusted_proxies`` (CIDRs) are these believed:

* ``X-Forwarded-For``: the *right-most address that is not itself a trusted proxy*
  becomes the client (each proxy appends the address it saw, so everything to the left of
  that is whatever the visitor sent and may be forged). When every address is trusted the
  left-most is taken (a request from a proxy host itself). An entry that is not an IP
  address (``unknown``, a garbled value) stops the walk and the peer stays the client:
  never an address the visitor chose.
* ``X-Forwarded-Proto``: its right-most value (set by the proxy nearest to us), when it is
  ``http``/``https``/``ws``/``wss``; it sets the scheme, so cookies get ``Secure`` and HSTS
  is sent for visitors who came over TLS.
* ``Forwarded`` (RFC 7239): its ``for=`` and ``proto=`` parameters are read the same way,
  but only when the request has no ``X-Forwarded-For`` / ``X-Forwarded-Proto``. A proxy
  must therefore set the header family it uses and drop the other one (the nginx template
  sets ``X-Forwarded-*`` and clears ``Forwarded``).

From any other peer the headers are ignored. This replaces uvicorn's proxy-header handling,
which ``duet serve`` turns off: uvicorn's has no ``Forwarded`` and takes a non-address
entry as the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from signaling.config.networks import parse_networks

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = {"http", "https", "ws", "wss"}


class TrustedProxies:
    """Which peers are trusted proxies, and what their headers say."""

    def __init__(self, cidrs: Sequence[str]) -> None:
        self.networks = parse_networks(cidrs)

    def trusts(self, host: str | None) -> bool:
        address = _address(host)
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, chain: Sequence[str]) -> str:
        """The visitor's address from the forwarded ``chain`` (left to right) that reached
        us from the trusted ``peer``."""
        for host in reversed(chain):
            address = _address(host)
            if address is None:
                return peer
            if not any(address in net for net in self.networks):
                return str(address)
        first = _address(chain[0]) if chain else None
        return peer if first is None else str(first)


def _address(host: str | None) -> Address | None:
    """An IP address from ``1.2.3.4``, ``1.2.3.4:56``, ``[::1]:56``, ``::1`` or
    ``"[::1]"``; ``None`` for anything else."""
    if not host:
        return None
    text = host.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _header_list(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Comma-separated values of every ``name`` header, in order."""
    values: list[str] = []
    for key, value in headers:
        if key == name:
            values.extend(part.strip() for part in value.decode("latin-1").split(","))
    return [v for v in values if v]


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> tuple[list[str], str | None]:
    """``for=`` values (left to right) and the right-most ``proto=`` of ``Forwarded``."""
    chain: list[str] = []
    proto: str | None = None
    for element in _header_list(headers, b"forwarded"):
        pairs = dict(
            (k.strip().lower(), v.strip().strip('"'))
            for k, _, v in (pair.partition("=") for pair in element.split(";"))
        )
        if "for" in pairs:
            chain.append(pairs["for"])
        if "proto" in pairs:
            proto = pairs["proto"].lower()
    return chain, proto


class ProxyHeadersMiddleware:
    """Sets ``scope["client"]`` and ``scope["scheme"]`` from the forwarded headers of a
    trusted proxy (see the module's docstring)."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.proxies = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else None
            if peer is not None and self.proxies.trusts(peer):
                scope = self._believe(scope, peer)
        await self.app(scope, receive, send)

    def _believe(self, scope: Scope, peer: str) -> Scope:
        headers = scope.get("headers", [])
        chain = _header_list(headers, b"x-forwarded-for")
        protos = _header_list(headers, b"x-forwarded-proto")
        proto = protos[-1].lower() if protos else None
        if not chain or proto is None:
            forwarded_chain, forwarded_proto = _forwarded(headers)
            chain = chain or forwarded_chain
            proto = proto or forwarded_proto
        scope = dict(scope)
        if chain:
            scope["client"] = (self.proxies.client(peer, chain), 0)
        if proto in _SCHEMES:
            secure = proto in ("https", "wss")
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        return scope
