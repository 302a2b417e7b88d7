"""``duet serve`` as a process: its own secret key on first start, kept across restarts;
tokens kept out of its log; its URL printed once it listens."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import websockets

from signaling.config.keys import KEY_FILE
from tests.support.door import open_session
from tests.support.servers import LOOPBACK_ENV, REPO_ROOT, run_duet


async def _welcomed(ws_url: str, token: str) -> bool:
    async with websockets.connect(f"{ws_url}?token={token}") as ws:
        return bool(json.loads(await ws.recv())["type"] == "welcome")


async def test_serve_makes_a_private_key_once_and_keeps_it(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / KEY_FILE
    with run_duet(tmp_path) as node:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text()
        token = (await open_session(node.url))["token"]
        assert await _welcomed(node.ws_url, token)
    # A restarted node reuses the key: the session it signed is still good.
    with run_duet(tmp_path) as node:
        assert key_file.read_text() == key
        assert await _welcomed(node.ws_url, token)


async def test_tokens_in_urls_never_reach_the_log(tmp_path: Path) -> None:
    with run_duet(tmp_path) as node:
        token = (await open_session(node.url))["token"]
        async with httpx.AsyncClient() as client:
            refused = await client.get(node.url + "/api/ice")
            ice = await client.get(node.url + "/api/ice", params={"token": token})
        assert refused.status_code == 401 and refused.json()["error"] == "session_required"
        assert ice.status_code == 200
        assert await _welcomed(node.ws_url, token)
        log = node.log()
    assert token not in log and token.split(".")[1] not in log
    assert "/api/ice?token=[redacted]" in log and "/ws?token=[redacted]" in log


def test_the_url_is_printed_only_once_the_node_listens(tmp_path: Path) -> None:
    """Port 0: the line names the port actually bound, and it answers at once."""
    env = {
        **os.environ,
        **LOOPBACK_ENV,
        "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        "DUET_MODERATION__ENABLED": "false",
        "DUET_DATA_DIR": str(tmp_path / "data"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "duet.cli", "serve", "--port", "0"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"Duet is serving on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match is not None and match.group(2) != "0", line
        # No retry: whoever read the line may connect at once.
        response = httpx.get(match.group(1) + "/healthz", timeout=10)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
