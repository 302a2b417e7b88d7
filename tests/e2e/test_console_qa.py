"""QA of an automatic ban end to end, in Chromium, against a real ``duet serve`` with
moderation on (the colour test classifier in real worker processes) and
``moderation.qa_sample_rate = 1.0``.

A red aiortc caller is banned by the pipeline; a visitor from the same address sees the
banned screen. The reviewer's dashboard shows no measured precision yet; they take the QA
item from the queue, see the evidence blurred, mark the ban wrong; the dashboard's
precision changes to 0 %, and the visitor, back again, is told the ban was lifted.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import PageRecord, pass_gate
from tests.e2e.pages import assert_clean, tid
from tests.e2e.test_console import MODERATION_ENV, PASSWORD, ROLE, OpenPage, _decide, _enter, _login
from tests.support.caller import Caller
from tests.support.servers import REPO_ROOT, DuetServer, run_duet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RED, GREEN = (210, 40, 40), (40, 200, 60)
RED_DEVICE = "e2e_qa_red_device_0001"


@pytest.fixture
def qa_server(tmp_path: Path) -> Iterator[DuetServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"
    created = subprocess.run(
        [sys.executable, "-m", "duet.cli", "admin", "create-user", "rita", *ROLE],
        input=PASSWORD + "\n",
        env={**os.environ, "DUET_DATABASE_URL": database_url},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    env = {**MODERATION_ENV, "DUET_MODERATION__QA_SAMPLE_RATE": "1.0"}
    with run_duet(tmp_path, env) as server:
        deadline = time.monotonic() + 30
        while httpx.get(server.url + "/healthz").json()["moderation"]["workers_ready"] < 1:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        yield server


@pytest.fixture
async def open_qa_page(browser: Browser, qa_server: DuetServer) -> AsyncIterator[OpenPage]:
    contexts = []

    async def open_one(path: str, init_script: str | None = None) -> PageRecord:
        """A fresh browser context; ``init_script`` runs in the page before the app."""
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        context.set_default_timeout(10_000)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        record = PageRecord(page)
        page.on("console", lambda m: record.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: record.errors.append(str(exc)))
        await page.goto(qa_server.url + path)
        return record

    try:
        yield open_one
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                await context.close()


async def test_reviewer_marks_an_automatic_ban_wrong_and_precision_changes(
    qa_server: DuetServer,
    open_qa_page: OpenPage,
    loopback_only: None,
    callers: list[object],
    tmp_path: Path,
) -> None:
    red = await Caller(qa_server.ws_url, RED, device=RED_DEVICE).connect()
    callers.append(red)
    green = await Caller(qa_server.ws_url, GREEN).connect()
    callers.append(green)
    await red.join("video")
    await green.join("video")
    try:
        await red.wait_for("banned", timeout=30)
    except TimeoutError:
        raise AssertionError(qa_server.counters() + "\n" + qa_server.log()[-4000:]) from None

    # The banned person (the same device, now in a browser) sees the banned screen; only
    # the banned session or device gets the ban's appeal token (and so hears of a lift).
    visitor = await open_qa_page(
        "/", init_script=f"localStorage.setItem('duet.device', '{RED_DEVICE}')"
    )
    vp = visitor.page
    await _enter(vp)
    await expect(tid(vp, "banned")).to_be_visible(timeout=30_000)

    reviewer = await open_qa_page("/review")
    rp = reviewer.page
    await _login(rp)
    await tid(rp, "nav-dashboard").click()
    await expect(tid(rp, "tile-precision")).to_contain_text("–")
    await expect(tid(rp, "tile-precision")).to_contain_text("0 QA decided")
    await expect(tid(rp, "precision-table")).to_contain_text("test_exposed")

    # The QA item, blurred and grey by default, its stratum and ban shown.
    await tid(rp, "nav-queue").click()
    item = tid(rp, "queue-item").and_(rp.locator("[data-kind='qa']"))
    await expect(item).to_have_count(1)
    await item.click()
    await expect(tid(rp, "qa-stratum")).to_contain_text("video · test_colour · test_exposed")
    frame = rp.locator(".evidence__frame")
    await expect(frame).to_have_attribute("data-revealed", "false")
    image = tid(rp, "evidence-image")
    assert (await image.get_attribute("src") or "").endswith("/blurred")
    assert "grayscale(1)" in await image.evaluate("i => getComputedStyle(i).filter")
    await rp.wait_for_function(
        "() => { const i = document.querySelector('.evidence__image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    await expect(rp.locator(".evidence__box text")).to_contain_text("TEST_EXPOSED 97%")
    evidence_files = list((tmp_path / "evidence").rglob("e_*.jpg"))
    assert evidence_files
    await expect(tid(rp, "action-uphold")).to_have_count(0)
    await _decide(rp, "wrong", "Classifier mistake: a red wall")
    await expect(tid(rp, "decision-result")).to_have_attribute("data-status", "wrong")
    assert not any(path.exists() for path in evidence_files)
    await expect(tid(rp, "recent-decisions")).to_contain_text("ban.lifted")

    # The dashboard's measured precision moved: one decided, none correct.
    await tid(rp, "nav-dashboard").click()
    await expect(tid(rp, "tile-precision")).to_contain_text("0.0%")
    await expect(tid(rp, "tile-precision")).to_contain_text("1 QA decided")
    await expect(tid(rp, "precision-table")).to_contain_text("0.0% – ")

    # The visitor comes back and is told the ban was lifted.
    await vp.reload()
    await pass_gate(vp)
    await expect(tid(vp, "appeal-decision")).to_contain_text("lifted it")
    assert_clean(reviewer, visitor)
