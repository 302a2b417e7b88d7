"""The node as an operator sees it: health, static client, match records, CLI errors."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.caller import Caller
from tests.support.door import open_session
from tests.support.servers import DuetServer


def test_healthz_and_client_are_served(duet: DuetServer) -> None:
    health = httpx.get(duet.url + "/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["waiting"] == {"video": 0, "text": 0}
    page = httpx.get(duet.url + "/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    refused = httpx.get(duet.url + "/api/ice")
    assert refused.status_code == 401 and refused.json()["error"] == "session_required"
    token = asyncio.run(open_session(duet.url))["token"]
    ice = httpx.get(duet.url + "/api/ice", cookies={"duet_session": token}).json()
    assert ice["iceTransportPolicy"] == "all"


async def test_matches_are_recorded_with_their_end_reason(
    duet: DuetServer, callers: list[object]
) -> None:
    a = await Caller(duet.ws_url).connect()
    b = await Caller(duet.ws_url).connect()
    callers.extend([a, b])
    await a.join("text")
    await b.join("text")
    match = (await a.wait_for("matched"))["match"]
    await a.send({"type": "next"})
    await b.wait_for("partner_left")
    path = duet.database_url.split("///", 1)[1]
    deadline = time.monotonic() + 10
    row = None
    while time.monotonic() < deadline:
        with sqlite3.connect(path) as db:
            row = db.execute(
                "SELECT mode, visitor_a, visitor_b, started_at, ended_at, end_reason "
                "FROM matches WHERE id = ?",
                (match,),
            ).fetchone()
        if row is not None and row[4] is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None
    mode, va, vb, started, ended, reason = row
    assert mode == "text"
    assert {va, vb} == {a.visitor, b.visitor}
    assert started <= ended
    assert reason == "next"


def _duet(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "duet.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_cli_reports_bad_settings_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('port = "eighty"\n[sfu]\nforwarding = "teleport"\n')
    result = _duet("serve", "--config", str(bad))
    assert result.returncode != 0
    assert "port" in result.stderr and "sfu.forwarding" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _duet("serve", "--config", str(tmp_path / "nope.toml"))
    assert "config file not found" in missing.stderr


def test_cli_refuses_placeholder_secret_in_production(tmp_path: Path) -> None:
    result = _duet("serve", env={"DUET_MODE": "production"})
    assert result.returncode != 0
    assert "secret_key" in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/sub/dir/duet.sqlite3"
    result = _duet("db", "upgrade", env={"DUET_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "sub/dir/duet.sqlite3") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"matches", "alembic_version"} <= tables


def test_only_client_assets_are_served(duet: DuetServer) -> None:
    assert httpx.get(duet.url + "/js/main.js").status_code == 200
    assert httpx.get(duet.url + "/css/base.css").headers["cache-control"] == "no-cache"
    assert httpx.get(duet.url + "/").headers["cache-control"] == "no-cache"
    for path in ("/__init__.py", "/index.html/../__init__.py", "/js/../__init__.py", "/nope"):
        assert httpx.get(duet.url + path).status_code == 404, path
