"""Getting through the door the way a browser does: challenge, solve, session."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from signaling.door.challenge import solve


def new_device() -> str:
    return "dev_" + secrets.token_hex(12)


def http_base(ws_url: str) -> str:
    """``http://host:port`` of a ``ws://host:port/ws`` URL."""
    base = ws_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    return base.rsplit("/ws", 1)[0]


async def session_body(
    client: httpx.AsyncClient,
    device: str | None = None,
    name: str | None = None,
    birth_year: int = 1990,
) -> dict[str, Any]:
    """A ``POST /api/session`` body with a freshly solved challenge."""
    challenge = (await client.get("/api/challenge", params={"device": device or ""})).json()
    body: dict[str, Any] = {
        "birth_year": birth_year,
        "adult": True,
        "device": device or new_device(),
    }
    if name is not None:
        body["name"] = name
    if challenge.get("enabled"):
        body["altcha"] = solve(challenge)
    return body


async def open_session(
    base_url: str, device: str | None = None, name: str | None = None, birth_year: int = 1990
) -> dict[str, Any]:
    """A session for a new visitor: the JSON of ``POST /api/session`` (``token`` ...)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        body = await session_body(client, device, name, birth_year)
        response = await client.post("/api/session", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
