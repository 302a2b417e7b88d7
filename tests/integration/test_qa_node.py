"""QA of automatic bans on a real node: ``duet serve`` with moderation on (the colour test
classifier in real worker processes), real aiortc callers, a reviewer over HTTP.

With ``moderation.qa_sample_rate = 1.0`` the pipeline's automatic ban becomes a QA item;
the reviewer marks it wrong: the ban is lifted at once (a new visitor from the banned
address is let in), its evidence files are gone, the visitor's token reads "overturned",
and the measured precision in ``/metrics`` and on the dashboard moves. A chat-strike ban
and a verbal-report ban become QA items in their own strata; *correct* keeps the ban."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.support.caller import Caller
from tests.support.servers import REPO_ROOT, DuetServer, run_duet

RED, GREEN = (210, 40, 40), (40, 200, 60)
PASSWORD = "a reviewer's long password"
STRATUM = {"kind": "ban", "source": "video", "classifier": "test_colour", "reason": "test_exposed"}
ALL = {"kind": "all", "source": "all", "classifier": "all", "reason": "all"}


@pytest.fixture
def node(tmp_path: Path, loopback_only: None) -> Iterator[DuetServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "duet.cli",
            "admin",
            "create-user",
            "quinn",
            "--role",
            "moderator",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env={**os.environ, "DUET_DATABASE_URL": database_url},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    env = {
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
        "DUET_MODERATION__SCHEDULE_OFFSETS_S": "[0.3, 0.8, 1.5]",
        "DUET_MODERATION__PERIODIC_S": "0.5",
        "DUET_MODERATION__PARTNER_STAGGER_S": "0.1",
        "DUET_MODERATION__TAP_TIMEOUT_S": "2.0",
        "DUET_MODERATION__QA_SAMPLE_RATE": "1.0",
        "DUETTEST_UNSAFE_RGB": "210,40,40",
        "DUETTEST_MINOR_RGB": "150,40,190",
        "DUET_SECRET_KEY": "qa-node-secret",
        # Chat and verbal-report bans on the first offence, for the strata test.
        "DUET_MODERATION__TEXT__BLOCKED_WORDS": '["frobnicate"]',
        "DUET_MODERATION__TEXT__STRIKES_TO_BAN": "1",
        "DUET_REPORTS__VERBAL_THRESHOLD": "1",
        "DUET_REPORTS__COOLDOWN_S": "0",
        "DUET_REPORTS__VERBAL_MIN_MATCH_S": "0",
    }
    with run_duet(tmp_path, env) as server:
        deadline = time.monotonic() + 30
        while httpx.get(server.url + "/healthz").json()["moderation"]["workers_ready"] < 1:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        yield server


def _rows(server: DuetServer, query: str) -> list[sqlite3.Row]:
    path = server.database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(query))


async def _metrics(http: httpx.AsyncClient) -> dict[str, float]:
    text = (await http.get("/metrics")).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def _key(name: str, labels: dict[str, str]) -> str:
    return f"{name}{{{','.join(f'{k}={v}' for k, v in sorted(labels.items()))}}}"


async def _banned_on_arrival(server: DuetServer) -> dict[str, Any]:
    async with websockets.connect(server.ws_url) as ws:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return event


async def test_wrong_lifts_an_automatic_ban_and_moves_precision(
    node: DuetServer, tmp_path: Path, callers: list[object]
) -> None:
    red = await Caller(node.ws_url, RED).connect()
    callers.append(red)
    green = await Caller(node.ws_url, GREEN).connect()
    callers.append(green)
    await red.join("video")
    await green.join("video")
    try:
        banned = await red.wait_for("banned", timeout=15)
    except TimeoutError:
        raise AssertionError(node.counters() + "\n" + node.log()[-4000:]) from None
    token = banned["appeal"]["token"]

    # Sampled at 1.0: the automatic ban is a QA item, in its stratum.
    (ban,) = _rows(node, "SELECT * FROM moderation_bans")
    (qa,) = _rows(node, "SELECT * FROM qa_items")
    assert qa["ref"] == ban["id"] and qa["sampled"] == 1 and qa["status"] == "open"
    assert {k: qa[k] for k in STRATUM} == STRATUM
    assert qa["score"] == pytest.approx(0.97) and qa["evidence_id"] == ban["evidence_id"]
    evidence_files = list((tmp_path / "evidence").rglob(f"{ban['evidence_id']}*"))
    # The frame, its blurred copy, its details, and the clip of the last seconds (WebM).
    assert len(evidence_files) == 4
    assert any(f.suffix == ".webm" for f in evidence_files)
    assert (await _banned_on_arrival(node))["type"] == "banned"  # the address is banned

    async with httpx.AsyncClient(base_url=node.url) as http:
        before = await _metrics(http)
        assert before[_key("duet_qa_sampled", STRATUM)] == 1
        assert before[_key("duet_qa_decided", ALL)] == 0
        assert _key("duet_qa_precision", ALL) not in before

        login = await http.post("/api/auth/login", json={"name": "quinn", "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"X-CSRF-Token": login.json()["csrf"]}
        queue = (await http.get("/api/admin/queue")).json()["items"]
        (entry,) = [i for i in queue if i["kind"] == "qa"]
        assert entry["priority"] == "low" and entry["visitor"] == red.visitor
        opened = await http.post(
            f"/api/admin/items/qa/{entry['id']}/open", headers=headers, json={}
        )
        assert opened.status_code == 200, opened.text
        casefile = opened.json()
        assert casefile["ban"]["id"] == ban["id"] and casefile["ban"]["state"] == "active"
        assert casefile["evidence"]["verdict"]["boxes"][0]["label"] == "TEST_EXPOSED"
        image = await http.get(casefile["evidence"]["images"]["blurred"])
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"

        decided = await http.post(
            f"/api/admin/items/qa/{entry['id']}/decision",
            headers=headers,
            json={"action": "wrong", "reason": "a red wall, not a person"},
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "wrong" and decided.json()["lifted"] == ban["id"]
        assert decided.json()["evidence_deleted"] == 1

        # Lifted at once: a visitor from the banned address is let in and can join.
        again = await Caller(node.ws_url, GREEN).connect()
        callers.append(again)
        await again.join("text")
        await again.wait_for("queued", timeout=5)
        assert all(not path.exists() for path in evidence_files)
        assert not _rows(node, f"SELECT * FROM moderation_evidence WHERE id='{ban['evidence_id']}'")
        # The banned visitor's browser is told on its next visit, as after an appeal.
        state = (await http.post("/api/appeals/status", json={"token": token})).json()
        assert state["decision"] == "overturned" and state["appeal"] == "none"
        assert state["active"] is False

        # Precision moved: one decided, none correct, the wrong one's score recorded.
        after = await _metrics(http)
        assert after[_key("duet_qa_decided", STRATUM)] == 1
        assert after[_key("duet_qa_precision", STRATUM)] == 0
        assert after[_key("duet_qa_precision_upper", ALL)] < 1
        assert after[_key("duet_qa_wrong_score_count", STRATUM)] == 1
        assert after[_key("duet_qa_wrong_score_bucket", {**STRATUM, "le": "0.95"})] == 0
        assert after[_key("duet_qa_wrong_score_bucket", {**STRATUM, "le": "1.0"})] == 1
        dashboard = (await http.get("/api/admin/dashboard")).json()["precision"]
        assert dashboard["total"]["decided"] == 1 and dashboard["total"]["precision"] == 0
        assert not [i for i in (await http.get("/api/admin/queue")).json()["items"]]

    actions = [(row["actor"], row["action"]) for row in _rows(node, "SELECT * FROM audit_log")]
    assert ("system:moderation", "qa.sampled") in actions
    assert ("reviewer:quinn", "qa.wrong") in actions
    assert ("reviewer:quinn", "ban.lifted") in actions
    assert ("reviewer:quinn", "evidence.deleted") in actions
    (lifted,) = _rows(node, "SELECT * FROM moderation_bans")
    assert lifted["lifted_by"] == "quinn" and "QA" in lifted["lift_reason"]


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    login = await http.post("/api/auth/login", json={"name": "quinn", "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"X-CSRF-Token": login.json()["csrf"]}


async def test_chat_and_verbal_report_bans_are_sampled_and_correct_keeps_them(
    node: DuetServer, callers: list[object]
) -> None:
    # Everyone connects first: they share 127.0.0.1, which the first ban covers.
    people = [await Caller(node.ws_url, GREEN).connect() for _ in range(4)]
    callers.extend(people)
    reporter, reported, rude, polite = people
    await reporter.join("text")
    await reported.join("text")
    await reporter.wait_for("matched")
    await rude.join("text")
    await polite.join("text")
    await rude.wait_for("matched")

    await reporter.send({"type": "report", "reason": "harassment"})
    await reported.wait_for("banned", timeout=10)
    await rude.send({"type": "chat", "text": "go frobnicate yourself"})
    await rude.wait_for("banned", timeout=10)

    rows = _rows(node, "SELECT * FROM qa_items ORDER BY created_at")
    bans = {b["id"]: b for b in _rows(node, "SELECT * FROM moderation_bans")}
    assert [(r["kind"], r["source"], r["classifier"], r["reason"]) for r in rows] == [
        ("ban", "report", "verbal_reports", "reported"),
        ("ban", "text", "chat_strikes", "strikes"),
    ]
    # The verbal-report ban already asks reviewers to confirm it (a review item): recorded
    # for precision, not queued a second time. The chat-strike ban is sampled.
    assert [(r["sampled"], r["status"]) for r in rows] == [(0, "unsampled"), (1, "open")]
    assert [bans[r["ref"]]["visitor"] for r in rows] == [reported.visitor, rude.visitor]

    async with httpx.AsyncClient(base_url=node.url) as http:
        headers = await _login(http)
        queue = (await http.get("/api/admin/queue")).json()["items"]
        assert sorted(i["kind"] for i in queue) == ["qa", "review"]
        chat = rows[1]["id"]
        casefile = (
            await http.post(f"/api/admin/items/qa/{chat}/open", headers=headers, json={})
        ).json()
        assert casefile["evidence"]["messages"] == ["go frobnicate yourself"]
        decided = await http.post(
            f"/api/admin/items/qa/{chat}/decision",
            headers=headers,
            json={"action": "correct", "reason": "abusive, as flagged"},
        )
        assert decided.status_code == 200 and decided.json()["status"] == "correct"
        # Nothing else changed: the address is still banned, the evidence is still there.
        assert (await _banned_on_arrival(node))["type"] == "banned"
        evidence = casefile["evidence"]["id"]
        assert _rows(node, f"SELECT id FROM moderation_evidence WHERE id='{evidence}'")
        assert all(b["lifted_at"] is None for b in _rows(node, "SELECT * FROM moderation_bans"))
        after = await _metrics(http)
        chat_stratum = {
            "kind": "ban",
            "source": "text",
            "classifier": "chat_strikes",
            "reason": "strikes",
        }
        assert after[_key("duet_qa_precision", chat_stratum)] == 1
        assert after[_key("duet_qa_sampled", ALL)] == 1

        # Upholding the confirm item of the verbal-report ban counts it correct (via review).
        (confirm,) = [i for i in queue if i["kind"] == "review"]
        await http.post(f"/api/admin/items/review/{confirm['id']}/open", headers=headers, json={})
        upheld = await http.post(
            f"/api/admin/items/review/{confirm['id']}/decision",
            headers=headers,
            json={"action": "uphold", "reason": "rude, as reported"},
        )
        assert upheld.status_code == 200, upheld.text
        verbal = _rows(node, f"SELECT status, via FROM qa_items WHERE id='{rows[0]['id']}'")
        assert [(r["status"], r["via"]) for r in verbal] == [("correct", "review")]
