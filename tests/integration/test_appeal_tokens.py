"""Appeal tokens go only to the banned person (session or device), never to someone else
who shares their IP address: a real ``duet serve``, real sockets, a chat ban."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import websockets

from tests.support.caller import Caller
from tests.support.door import http_base, open_session
from tests.support.servers import run_duet


async def _first_event(ws_url: str, token: str | None) -> dict[str, Any]:
    """What a socket (with this session token) hears first."""
    url = f"{ws_url}?token={token}" if token else ws_url
    async with websockets.connect(url) as ws:
        event: dict[str, Any] = json.loads(await ws.recv())
        return event


async def test_only_the_banned_session_gets_the_appeal_token(
    tmp_path: Path, callers: list[object]
) -> None:
    env = {
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
        "DUET_MODERATION__TEXT__BLOCKED_WORDS": '["frobnicate"]',
        "DUET_MODERATION__TEXT__STRIKES_TO_BAN": "1",
    }
    with run_duet(tmp_path, env) as server:
        rude = await Caller(server.ws_url).connect()
        polite = await Caller(server.ws_url).connect()
        callers += [rude, polite]
        await rude.join("text")
        await polite.join("text")
        await rude.wait_for("matched")
        await rude.send({"type": "chat", "text": "frobnicate"})
        banned = await rude.wait_for("banned")
        token = banned["appeal"]["token"]
        assert isinstance(token, str) and token.startswith(banned["ban"] + ".")

        # The banned person comes back (same session): the token again.
        again = await _first_event(server.ws_url, rude.token)
        assert again["type"] == "banned" and again["appeal"]["token"] == token
        # A neighbour on the same IP (its own session and device) is kept out by the IP
        # ban but gets no token: it cannot spend the banned person's only appeal.
        session = await open_session(http_base(server.ws_url), device="neighbour_device_01")
        neighbour = await _first_event(server.ws_url, str(session["token"]))
        assert neighbour["type"] == "banned" and neighbour["ban"] == banned["ban"]
        assert neighbour["appeal"]["token"] is None
        anonymous = await _first_event(server.ws_url, None)  # no session at all
        assert anonymous["type"] == "banned" and anonymous["appeal"]["token"] is None
