"""The REAL NudeNet + age models end to end on real SFU frames: a caller streams a
photograph of a face (scikit-image's astronaut); a test-only factory wrapping the real
classifier counts a detected face as unsafe (``tests.support.classifiers:face_as_unsafe``).
The visitor is banned -- or, with ``minor_age`` above the face's apparent age, held --
with evidence whose JPEG decodes and whose SHA-256 matches the record."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from skimage import data

from tests.support.caller import Caller
from tests.support.servers import DuetServer, run_duet

GREEN = (40, 200, 60)


def _env(**extra: str) -> dict[str, str]:
    return {
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:face_as_unsafe",
        "DUET_MODERATION__SCHEDULE_OFFSETS_S": "[1.0]",
        "DUET_MODERATION__PERIODIC_S": "0.5",
        "DUET_MODERATION__CHECK_TIMEOUT_S": "10",
        "DUET_MODERATION__TAP_TIMEOUT_S": "2.0",
        # The face detection's score is the "unsafe" score: ban on one frame at 0.3.
        "DUET_MODERATION__BAN_SCORE": "0.3",
        **extra,
    }


def _rows(server: DuetServer, query: str) -> list[sqlite3.Row]:
    path = server.database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(query))


def _wait_ready(server: DuetServer) -> None:
    deadline = time.monotonic() + 120
    while httpx.get(server.url + "/healthz").json()["moderation"]["workers_ready"] < 1:
        assert time.monotonic() < deadline, server.log()[-4000:]
        time.sleep(0.2)


async def _astronaut_call(server: DuetServer, callers: list[object]) -> tuple[Caller, Caller]:
    astronaut = Caller(server.ws_url, GREEN)
    astronaut.picture = np.ascontiguousarray(data.astronaut())  # 512 x 512 RGB
    await astronaut.connect()
    partner = await Caller(server.ws_url, GREEN).connect()
    callers += [astronaut, partner]
    await astronaut.join("video")
    await partner.join("video")
    await astronaut.wait_for("matched")
    return astronaut, partner


def _check_evidence(tmp_path: Path, server: DuetServer, evidence_id: str) -> dict[str, Any]:
    (evidence,) = _rows(server, f"SELECT * FROM moderation_evidence WHERE id='{evidence_id}'")
    image = (tmp_path / "evidence" / evidence["path"]).read_bytes()
    assert hashlib.sha256(image).hexdigest() == evidence["sha256"]
    frame = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape[0] >= 256 and frame.shape[1] >= 256
    details: dict[str, Any] = json.loads(evidence["details"])
    verdict = details["verdict"]
    assert verdict["source"] == "nudenet-320n+age+test-face-as-unsafe"
    faces = [b for b in verdict["boxes"] if b["label"].startswith("FACE_")]
    assert faces and faces[0]["age"] is not None  # the real age model ran on the frame
    return verdict


async def test_real_models_ban_a_caller_whose_face_counts_as_unsafe(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    with run_duet(tmp_path, _env()) as server:
        _wait_ready(server)
        astronaut, partner = await _astronaut_call(server, callers)
        try:
            banned = await astronaut.wait_for("banned", timeout=30)
        except TimeoutError:
            raise AssertionError(server.counters() + "\n" + server.log()[-4000:]) from None
        assert (await partner.wait_for("partner_left", timeout=5))["reason"] == "ended"
        (ban,) = _rows(server, "SELECT * FROM moderation_bans")
        assert ban["id"] == banned["ban"] and ban["visitor"] == astronaut.visitor
        verdict = _check_evidence(tmp_path, server, ban["evidence_id"])
        assert verdict["unsafe"] is True and verdict["minor"] is False


async def test_real_models_hold_a_caller_whose_face_looks_under_minor_age(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    # The astronaut's apparent age is about 33: under 40 he counts as a possible minor.
    with run_duet(tmp_path, _env(DUET_MODERATION__MINOR_AGE="40")) as server:
        _wait_ready(server)
        astronaut, partner = await _astronaut_call(server, callers)
        try:
            held = await astronaut.wait_for("held", timeout=30)
        except TimeoutError:
            raise AssertionError(server.counters() + "\n" + server.log()[-4000:]) from None
        assert held["released"] is False
        assert (await partner.wait_for("partner_left", timeout=5))["reason"] == "ended"
        assert _rows(server, "SELECT * FROM moderation_bans") == []
        (review,) = _rows(server, "SELECT * FROM moderation_reviews")
        assert review["hold_until"] is not None and review["priority"] == "high"
        verdict = _check_evidence(tmp_path, server, review["evidence_id"])
        assert verdict["unsafe"] is True and verdict["minor"] is True
