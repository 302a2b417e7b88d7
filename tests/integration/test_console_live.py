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

from tests.support.servers import REPO_ROOT, DuetServer, run_duet

PASSWORD = "an admin's long password"


def _role(role: str) -> list[str]:
    return ["--role", role, "--password-stdin"]


def _create(database_url: str, name: str, role: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "signaling.cli", "admin", "create-user", name, *_role(role)],
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


async def _events(ws: Any, until: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    events = []
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        events.append(event)
        if event["type"] == until:
            return events


async def test_admin_sees_live_visitors_and_disconnects_one(server: DuetServer) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url) as client,
        websockets.connect(server.ws_url) as a,
        websockets.connect(server.ws_url) as b,
    ):
        admin, moderator = await _login(client, "ada"), await _login(client, "mo")
        visitor_a = (await _events(a, "welcome"))[0]["visitor"]
        await _events(b, "welcome")
        await a.send(json.dumps({"type": "join", "mode": "text"}))
        await b.send(json.dumps({"type": "join", "mode": "text"}))
        await _events(a, "matched")
        await _events(b, "matched")

        assert (await client.get("/api/admin/live", headers=moderator)).status_code == 403
        live = (await client.get("/api/admin/live", headers=admin)).json()
        assert live["online"]["text"]["matched"] == 2
        (match,) = live["matches"]
        assert {match["a"], match["b"]} >= {visitor_a}
        dashboard = (await client.get("/api/admin/dashboard", headers=moderator)).json()
        assert dashboard["online"]["total"] == 2

        response = await client.post(
            f"/api/admin/live/{visitor_a}/disconnect",
            json={"reason": "testing the big red button"},
            headers=admin,
        )
        assert response.status_code == 200
        (event,) = await _events(a, "error")
        assert event["code"] == "disconnected"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(a.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        left = await _events(b, "partner_left")
        assert left[-1]["reason"] == "ended"
        again = await client.post(
            f"/api/admin/live/{visitor_a}/disconnect", json={"reason": "again"}, headers=admin
        )
        assert again.status_code == 404
        audit = (await client.get("/api/admin/audit", headers=admin)).json()["entries"]
        assert audit[0]["action"] == "visitor.disconnected"
        assert audit[0]["actor"] == "reviewer:ada"


async def test_a_ban_by_hand_removes_the_visitor_and_offers_an_appeal(
    server: DuetServer,
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url) as client,
        websockets.connect(server.ws_url) as ws,
    ):
        moderator = await _login(client, "mo")
        visitor = (await _events(ws, "welcome"))[0]["visitor"]
        made = await client.post(
            "/api/admin/bans",
            json={"visitor": visitor, "duration_s": 3600, "reason": "spamming links"},
            headers=moderator,
        )
        assert made.status_code == 201, made.text
        assert made.json()["ip"] == "127.0.0.1" and made.json()["created_by"] == "mo"
        (banned,) = await _events(ws, "banned")
        assert banned["reason"] == "spamming links" and banned["ban"] == made.json()["id"]
        assert banned["appeal"]["status"] == "none"
        token = banned["appeal"]["token"]

    # Back again: still banned, the same token; an appeal is filed and then pending.
    async with websockets.connect(server.ws_url) as ws:
        (again,) = await _events(ws, "banned")
        assert again["appeal"]["token"] == token
    filed = await client_post(server, "/api/appeals", {"token": token, "text": "sorry!"})
    assert filed.status_code == 201
    async with websockets.connect(server.ws_url) as ws:
        (again,) = await _events(ws, "banned")
        assert again["appeal"]["status"] == "pending"


async def client_post(server: DuetServer, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as client:
        return await client.post(path, json=body)
