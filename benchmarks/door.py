"""Getting a bench caller through a node's door, as a browser does: fetch a challenge,
solve it (off the event loop), and trade it for a session token for ``/ws?token=``.

A load test from one address needs the node's per-IP limits raised or the address listed
in ``limits.exempt_networks`` (sessions and connections per IP are limited).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from signaling.door.challenge import solve


class DoorRefused(Exception):
    """The node did not give a session (its JSON error, or the HTTP status)."""


def http_base(ws_url: str) -> str:
    """``http(s)://host:port`` of a ``ws(s)://host:port/ws`` URL."""
    base = ws_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    return base.rsplit("/ws", 1)[0]


async def open_session(ws_url: str, timeout: float = 10.0, local_address: str | None = None) -> str:
    """A session token for one synthetic visitor (a fresh device id each time), asked
    from ``local_address`` when given."""
    device = "bench_" + secrets.token_hex(12)
    transport = (
        None if local_address is None else httpx.AsyncHTTPTransport(local_address=local_address)
    )
    async with httpx.AsyncClient(
        base_url=http_base(ws_url), timeout=timeout, transport=transport
    ) as client:
        response = await client.get("/api/challenge", params={"device": device})
        _raise_for(response)
        challenge = response.json()
        body: dict[str, Any] = {"birth_year": 1990, "adult": True, "device": device}
        if challenge.get("enabled"):
            body["altcha"] = await asyncio.to_thread(solve, challenge)
        response = await client.post("/api/session", json=body)
        _raise_for(response)
        return str(response.json()["token"])


def ws_url_with(ws_url: str, token: str) -> str:
    return f"{ws_url}?token={token}"


def _raise_for(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    try:
        detail = response.json().get("error", "")
    except ValueError:
        detail = ""
    raise DoorRefused(f"HTTP {response.status_code} {detail}".strip())
