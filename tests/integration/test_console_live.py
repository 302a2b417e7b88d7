"""Admins and the live node: a real ``duet serve``, visitors on real WebSockets, the
console's API over HTTP. Force-disconnect, a ban by hand of a connected visitor (removed
at once, told how to appeal), and who may see any of it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.caller import Caller
from tests.support.door import open_session
from tests.support.servers import REPO_ROOT, DuetServer, run_duet

PASSWORD = "an admin's long password"


def _role(role: str) -> list[str]:
    return ["--role", role, "--password-stdin"]


def _create(database_url: str, name: str, role: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "duet.cli", "admin", "create-user", name, *_role(role)],
        input=PASSWORD + "\n",
        env={**os.environ, "DUET_DATABASE_URL": database_url},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DuetServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"
    _create(database_url, "ada", "admin")
    _create(database_url, "mo", "moderator")
    with run_duet(tmp_path) as server:
        yield server


async def _login(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    response = await client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.cookies["duet_review"]
    client.cookies.clear()
    return {"Cookie": f"duet_review={token}", "X-CSRF-Token": response.json()["csrf"]}


async def _banned_on_arrival(server: DuetServer, token: str | None = None) -> dict[str, Any]:
    """Connect a visitor (with session ``token``, else a fresh door session) that is
    expected to be banned."""
    if token is None:
        token = str((await open_session(server.url))["token"])
    url = f"{server.ws_url}?token={token}"
    async with websockets.connect(url) as ws:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return event


async def test_admin_sees_live_visitors_and_disconnects_one(
    server: DuetServer, callers: list[object]
) -> None:
    a = await Caller(server.ws_url).connect()
    b = await Caller(server.ws_url).connect()
    callers.extend([a, b])
    async with httpx.AsyncClient(base_url=server.url) as client:
        admin, moderator = await _login(client, "ada"), await _login(client, "mo")
        await a.join("text")
        await b.join("text")
        await a.wait_for("matched")
        await b.wait_for("matched")

        assert (await client.get("/api/admin/live", headers=moderator)).status_code == 403
        live = (await client.get("/api/admin/live", headers=admin)).json()
        assert live["online"]["text"]["matched"] == 2
        (match,) = live["matches"]
        assert {match["a"], match["b"]} == {a.visitor, b.visitor}
        dashboard = (await client.get("/api/admin/dashboard", headers=moderator)).json()
        assert dashboard["online"]["total"] == 2

        response = await client.post(
            f"/api/admin/live/{a.visitor}/disconnect",
            json={"reason": "testing the big red button"},
            headers=admin,
        )
        assert response.status_code == 200
        assert (await a.wait_for("error"))["code"] == "disconnected"
        await asyncio.sleep(0.3)
        assert a._ws.close_code == 1008
        assert (await b.wait_for("partner_left"))["reason"] == "ended"
        again = await client.post(
            f"/api/admin/live/{a.visitor}/disconnect", json={"reason": "again"}, headers=admin
        )
        assert again.status_code == 404
        audit = (await client.get("/api/admin/audit", headers=admin)).json()["entries"]
        assert audit[0]["action"] == "visitor.disconnected"
        assert audit[0]["actor"] == "reviewer:ada"


async def test_a_ban_by_hand_removes_the_visitor_and_offers_an_appeal(
    server: DuetServer, callers: list[object]
) -> None:
    visitor = await Caller(server.ws_url).connect()
    callers.append(visitor)
    async with httpx.AsyncClient(base_url=server.url) as client:
        moderator = await _login(client, "mo")
        made = await client.post(
            "/api/admin/bans",
            json={"visitor": visitor.visitor, "duration_s": 3600, "reason": "spamming links"},
            headers=moderator,
        )
        assert made.status_code == 201, made.text
        ban = made.json()
        assert ban["ip"] == "127.0.0.1" and ban["created_by"] == "mo"
        assert ban["session"] and ban["device"]  # the live visitor's, from the door
        banned = await visitor.wait_for("banned")
        assert banned["reason"] == "spamming links" and banned["ban"] == ban["id"]
        assert banned["appeal"]["status"] == "none"
        token = banned["appeal"]["token"]

        # Back again (same session): still banned, the same token; an appeal is filed and
        # then pending. Someone else on the same IP is banned too, but gets no token.
        again = await _banned_on_arrival(server, visitor.token)
        assert again["type"] == "banned" and again["appeal"]["token"] == token
        neighbour = await _banned_on_arrival(server)
        assert neighbour["type"] == "banned" and neighbour["appeal"]["token"] is None
        filed = await client.post("/api/appeals", json={"token": token, "text": "sorry!"})
        assert filed.status_code == 201
        again = await _banned_on_arrival(server, visitor.token)
        assert again["appeal"]["status"] == "pending"
