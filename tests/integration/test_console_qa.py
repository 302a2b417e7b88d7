"""QA of automatic actions in-process: a real app (SQLite, its lifespan run), bans made by
moderation's own code (evidence writer, sanctions, the SQL store), reviewers over HTTP.

*correct* changes nothing else; *unsure* escalates to admins; an overturned appeal of an
automatic ban counts as *wrong* even when the ban was not sampled; stratified sampling at
0.05 over many actions stays in its band and samples every stratum (seeded: the same
numbers every run); ``duet admin qa-report`` prints what the dashboard shows."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from duet.person import Person
from moderation import Verdict
from moderation.records import BanRecord
from moderation.verdict import Box
from signaling.storage.audit import AuditLog
from signaling.storage.db import Database
from signaling.storage.qa import QaStore
from signaling.storage.qa_actions import AutomaticAction, Sampler
from tests.support.console import ConsoleApp, Reviewer, console_app
from tests.support.servers import REPO_ROOT

SUBJECT = Person(visitor="v_bad", ip="203.0.113.9")
STRATUM = ("ban", "video", "test", "female_breast_exposed")


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleApp]:
    async with console_app(tmp_path, moderation={"qa_sample_rate": 1.0}) as app:
        yield app


async def _ban(console: ConsoleApp, score: float = 0.91) -> BanRecord:
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    verdict = Verdict(
        unsafe=True,
        minor=False,
        score=score,
        reason="FEMALE_BREAST_EXPOSED",
        source="test",
        boxes=(
            Box("FACE_F", 0.99, 1, 1, 10, 10, age=30),
            Box("FEMALE_BREAST_EXPOSED", score, 10, 20, 40, 50),
        ),
        faces=1,
    )
    moderation = console.services.moderation
    evidence = await moderation.evidence.frame(SUBJECT.visitor, "m_1", frame, verdict, "explicit")
    return await moderation.sanctions.ban(SUBJECT, "explicit video", "video", 3600, evidence)


async def _decide(console: ConsoleApp, who: Reviewer, item: str, action: str) -> Any:
    opened = await console.client.post(
        f"/api/admin/items/qa/{item}/open", headers=who.headers(), json={}
    )
    assert opened.status_code == 200, opened.text
    return await console.client.post(
        f"/api/admin/items/qa/{item}/decision",
        headers=who.headers(),
        json={"action": action, "reason": f"{action}: the test says so"},
    )


async def _queue(console: ConsoleApp, who: Reviewer) -> list[dict[str, Any]]:
    answer = await console.client.get("/api/admin/queue", headers=who.headers())
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _precision(console: ConsoleApp, who: Reviewer) -> dict[str, Any]:
    answer = await console.client.get("/api/admin/dashboard", headers=who.headers())
    precision: dict[str, Any] = answer.json()["precision"]
    return precision


def _files(console: ConsoleApp, evidence_id: str) -> list[Path]:
    return list(Path(console.settings.moderation.evidence_dir).rglob(f"{evidence_id}*"))


async def test_correct_changes_nothing_else(console: ConsoleApp) -> None:
    ban = await _ban(console)
    files = _files(console, ban.evidence_id or "")
    mo = await console.login("mo")
    (entry,) = [i for i in await _queue(console, mo) if i["kind"] == "qa"]
    decided = await _decide(console, mo, entry["id"], "correct")
    assert decided.status_code == 200, decided.text
    assert decided.json() == {
        "kind": "qa",
        "id": entry["id"],
        "status": "correct",
        "ban": None,
        "lifted": None,
        "evidence_deleted": 0,
    }
    # The ban stands, its evidence too; the item left the queue; precision is 1 of 1.
    assert await console.services.moderation.active_ban(SUBJECT.ip) == ban
    assert len(files) == 3 and all(path.exists() for path in files)
    assert await console.services.moderation.store.evidence(ban.evidence_id or "") is not None
    assert not await _queue(console, mo)
    precision = await _precision(console, mo)
    (row,) = precision["strata"]
    assert (row["kind"], row["source"], row["classifier"], row["reason"]) == STRATUM
    assert row["decided"] == 1 and row["correct"] == 1 and row["precision"] == 1.0
    assert 0.2 < row["interval"][0] < 0.21 and row["interval"][1] == 1.0  # Wilson, n = 1
    # Decided once: a second decision is refused.
    again = await console.client.post(
        f"/api/admin/items/qa/{entry['id']}/decision",
        headers=mo.headers(),
        json={"action": "wrong", "reason": "changed my mind"},
    )
    assert again.status_code in (409,), again.text


async def test_qa_items_come_after_real_cases_and_take_only_qa_actions(
    console: ConsoleApp,
) -> None:
    await _ban(console)
    sanctions = console.services.moderation.sanctions
    evidence = await console.services.moderation.evidence.text("v_x", "m_2", ["hi"], "borderline")
    await sanctions.review(Person("v_x", "198.51.100.1"), "m_2", "normal", "borderline", evidence)
    mo = await console.login("mo")
    kinds = [i["kind"] for i in await _queue(console, mo)]
    assert kinds == ["review", "qa"]  # the QA item is older, and still comes last
    qa_id = (await _queue(console, mo))[1]["id"]
    refused = await _decide(console, mo, qa_id, "uphold")
    assert refused.status_code == 400 and refused.json()["error"] == "bad_action"
    next_item = await console.client.post("/api/admin/queue/next", headers=mo.headers(), json={})
    assert next_item.json()["kind"] == "review"


async def test_unsure_escalates_to_admins_who_decide_wrong(console: ConsoleApp) -> None:
    ban = await _ban(console)
    files = _files(console, ban.evidence_id or "")
    mo, ada = await console.login("mo"), await console.login("ada")
    (entry,) = await _queue(console, mo)
    unsure = await _decide(console, mo, entry["id"], "unsure")
    assert unsure.status_code == 200 and unsure.json()["status"] == "escalated"
    (escalated,) = await _queue(console, mo)
    assert escalated["status"] == "escalated"
    assert (await _decide(console, mo, entry["id"], "wrong")).status_code == 403
    await console.client.post(
        f"/api/admin/items/qa/{entry['id']}/release", headers=mo.headers(), json={}
    )
    assert await console.services.moderation.active_ban(SUBJECT.ip) == ban
    assert (await _precision(console, mo))["total"]["decided"] == 0  # unsure is no decision
    wrong = await _decide(console, ada, entry["id"], "wrong")
    assert wrong.status_code == 200 and wrong.json()["lifted"] == ban.id
    assert await console.services.moderation.active_ban(SUBJECT.ip) is None
    assert all(not path.exists() for path in files)
    total = (await _precision(console, ada))["total"]
    assert total["wrong"] == 1 and total["precision"] == 0.0
    assert total["wrong_scores"]["min"] == pytest.approx(0.91)


async def test_an_overturned_appeal_of_an_unsampled_ban_counts_as_wrong(
    tmp_path: Path,
) -> None:
    unsampled = {"qa_sample_rate": 0.0, "qa_stratum_minimum": 0}
    async with console_app(tmp_path, moderation=unsampled) as console:
        ban = await _ban(console, score=0.88)
        mo = await console.login("mo")
        assert not await _queue(console, mo)  # not sampled: no QA item
        precision = await _precision(console, mo)
        assert precision["total"]["actions"] == 1 and precision["total"]["sampled"] == 0
        token = (await console.services.appeals.banned_event(ban)).appeal.token
        filed = await console.client.post("/api/appeals", json={"token": token, "text": "no"})
        assert filed.status_code == 201
        (appeal,) = await _queue(console, mo)
        await console.client.post(
            f"/api/admin/items/appeal/{appeal['id']}/open", headers=mo.headers(), json={}
        )
        overturned = await console.client.post(
            f"/api/admin/items/appeal/{appeal['id']}/decision",
            headers=mo.headers(),
            json={"action": "overturn", "reason": "a classifier mistake"},
        )
        assert overturned.status_code == 200, overturned.text
        total = (await _precision(console, mo))["total"]
        assert total["wrong"] == 1 and total["wrong_via_appeal"] == 1
        assert total["wrong_scores"]["max"] == pytest.approx(0.88)

        # `duet admin qa-report` prints the same numbers.
        url = console.settings.database_url
        report = _qa_report(url, "--days", "7", "--json")
        assert report.returncode == 0, report.stderr
        printed = json.loads(report.stdout)
        assert printed["days"] == 7 and printed["total"]["wrong_via_appeal"] == 1
        assert printed["strata"][0]["classifier"] == "test"
        table = _qa_report(url)
        assert table.returncode == 0 and "female_breast_exposed" in table.stdout
        assert "0.0%" in table.stdout
        bad = _qa_report(url, "--days", "zero")
        assert bad.returncode == 2 and "not a number of days" in bad.stderr


def _qa_report(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "duet.cli", "admin", "qa-report", *args],
        env={**os.environ, "DUET_DATABASE_URL": database_url},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- stratified sampling --------------------------------------------------------------

SOURCES = {
    # (kind, source, classifier, reason): how many automatic actions
    ("ban", "video", "nudenet_320n_age", "female_breast_exposed"): 800,
    ("ban", "video", "nudenet_320n_age", "anus_exposed"): 2,
    ("ban", "text", "chat_strikes", "strikes"): 200,
    ("ban", "report", "verbal_reports", "reported"): 40,
    ("hold", "video", "nudenet_320n_age", "possible_minor_explicit"): 5,
}
RATE, MINIMUM = 0.05, 3


async def _simulate(db: Database, seed: int) -> Counter[tuple[str, str, str, str]]:
    store = QaStore(db, AuditLog(db), Sampler(RATE, MINIMUM, 7 * 86_400.0, random.Random(seed)))
    start = datetime(2026, 1, 5, tzinfo=UTC)  # any fixed time: nothing reads the clock
    order = [key for key, n in SOURCES.items() for _ in range(n)]
    random.Random(seed + 1).shuffle(order)
    sampled: Counter[tuple[str, str, str, str]] = Counter()
    for i, (kind, source, classifier, reason) in enumerate(order):
        action = AutomaticAction(
            kind, source, classifier, reason, f"x_{i}", f"v_{i}", start + timedelta(seconds=i)
        )
        if (await store.automatic(action)).sampled:
            sampled[action.stratum] += 1
    return sampled


async def test_sampling_at_5_percent_stays_in_its_band_and_covers_every_source(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/qa.sqlite3")
    await db.migrate()
    try:
        sampled = await _simulate(db, seed=18)
    finally:
        await db.close()
    # Every stratum is sampled, the rare ones entirely (the first MINIMUM always are).
    for stratum, n in SOURCES.items():
        assert sampled[stratum] >= min(n, MINIMUM), stratum
    # Beyond the first MINIMUM of each stratum, a binomial draw at RATE: within 4 sigma.
    rest = sum(max(0, n - MINIMUM) for n in SOURCES.values())
    expected = rest * RATE
    sigma = math.sqrt(rest * RATE * (1 - RATE))
    beyond = sum(sampled.values()) - sum(min(n, MINIMUM) for n in SOURCES.values())
    assert abs(beyond - expected) <= 4 * sigma, (beyond, expected, sigma)
    big = ("ban", "video", "nudenet_320n_age", "female_breast_exposed")
    share = (sampled[big] - MINIMUM) / (SOURCES[big] - MINIMUM)
    assert 0.02 < share < 0.09, share
