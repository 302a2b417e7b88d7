"""Start-up with a classifier that cannot be loaded: a production node refuses to serve
video unmoderated; a development node serves, says so loudly and reports ``down``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import LOOPBACK_ENV, REPO_ROOT, free_port, run_duet

BROKEN = "tests.support.no_such_module:factory"


def test_production_node_stops_when_the_classifier_cannot_be_loaded(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **LOOPBACK_ENV,
        "DUET_MODE": "production",
        "DUET_SECRET_KEY": "a-real-secret-for-this-test-" + "x" * 40,
        "DUET_SOURCE_URL": "https://code.example.org/duet",
        "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": BROKEN,
        "DUET_MODERATION__EVIDENCE_DIR": str(tmp_path / "evidence"),
    }
    port = str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "duet.cli", "serve", "--host", "127.0.0.1", "--port", port],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "moderation.classifier" in output and BROKEN in output, output
    assert "cannot be loaded" in output and "No module named" in output, output


def test_development_node_serves_but_reports_moderation_down(tmp_path: Path) -> None:
    env = {"DUET_MODERATION__ENABLED": "true", "DUET_MODERATION__CLASSIFIER": BROKEN}
    with run_duet(tmp_path, env) as server:
        deadline = time.monotonic() + 30
        while True:
            summary = httpx.get(server.url + "/healthz").json()["moderation"]
            if summary["status"] == "down":
                break
            assert summary["status"] == "starting", summary
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        assert "MODERATION IS DOWN" in server.log() and BROKEN in server.log()
