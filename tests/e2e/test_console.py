"""The reviewer console and appeals end to end, in Chromium, against a real ``duet serve``
with moderation on (the colour test classifier in real worker processes).

A purple aiortc caller is flagged as a possible minor by the pipeline; a reviewer logs in,
finds the item, reveals the frame and upholds it (the caller is banned and removed). A
visitor on the banned device opens Duet, sees the banned screen and appeals; the
reviewer overturns the appeal; the visitor comes back, is told, and chats again.

``DUET_CONSOLE_SCREENSHOT=docs/screenshot-console.png`` saves the console (item open,
frame blurred) for the docs, ``DUET_BANNED_SCREENSHOT=docs/screenshot-banned.png`` the
banned visitor's screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from signaling.storage.db import Database
from signaling.storage.reports import NewReport, ReportStore
from tests.e2e.conftest import PageRecord, pass_gate
from tests.e2e.pages import assert_clean, tid, wait_online
from tests.support.caller import Caller
from tests.support.servers import REPO_ROOT, DuetServer, run_duet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PURPLE, GREEN = (150, 40, 190), (40, 200, 60)
PURPLE_DEVICE = "e2e_purple_device_0001"
PASSWORD = "a reviewer's long password"
ROLE = ["--role", "moderator", "--password-stdin"]
SCREENSHOT = os.environ.get("DUET_CONSOLE_SCREENSHOT", "")
BANNED_SCREENSHOT = os.environ.get("DUET_BANNED_SCREENSHOT", "")
MODERATION_ENV = {
    "DUET_MODERATION__ENABLED": "true",
    "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
    "DUET_MODERATION__SCHEDULE_OFFSETS_S": "[0.3, 0.8, 1.5]",
    "DUET_MODERATION__PERIODIC_S": "0.5",
    "DUET_MODERATION__PARTNER_STAGGER_S": "0.1",
    # Generous under load: a check that gets no decoded frame in time is skipped.
    "DUET_MODERATION__TAP_TIMEOUT_S": "3.0",
    "DUETTEST_UNSAFE_RGB": "210,40,40",
    "DUETTEST_MINOR_RGB": "150,40,190",
    "DUET_SECRET_KEY": "e2e-console-secret",
}

OpenPage = Callable[..., Awaitable[PageRecord]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DuetServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"
    # The reviewer account, made the way an operator makes it (before the node starts).
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
    with run_duet(tmp_path, MODERATION_ENV) as server:
        deadline = time.monotonic() + 30
        while httpx.get(server.url + "/healthz").json()["moderation"]["workers_ready"] < 1:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        yield server


@pytest.fixture
async def open_page(browser: Browser, server: DuetServer) -> AsyncIterator[OpenPage]:
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
        await page.goto(server.url + path)
        return record

    try:
        yield open_one
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                await context.close()


async def _file_reports(server: DuetServer) -> None:
    """Two reports through the room's Python API, so the queue has more than one kind."""
    db = Database(server.database_url)
    try:
        store = ReportStore(db)
        await store.file(
            NewReport(
                "v_7f3a",
                "198.51.100.23",
                "v_c0de",
                "203.0.113.77",
                "harassment",
                comment="kept insulting me after I said stop",
                transcript=[("reported", "you're pathetic"), ("reporter", "please stop")],
            )
        )
        await store.file(NewReport("v_91bd", "198.51.100.8", "v_5e11", "203.0.113.5", "spam"))
    finally:
        await db.close()


async def _review_item_exists(server: DuetServer, timeout: float = 30.0) -> None:
    path = server.database_url.split("///", 1)[1]
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.closing(sqlite3.connect(path)) as db:
            if db.execute("SELECT count(*) FROM moderation_reviews").fetchone()[0]:
                return
        assert time.monotonic() < deadline, server.counters() + "\n" + server.log()[-4000:]
        await asyncio.sleep(0.2)


async def _enter(page: Page) -> None:
    """The age gate and the challenge, for a visitor who may be banned once in."""
    await tid(page, "gate-year").fill("1990")
    await tid(page, "gate-adult").check()
    await tid(page, "gate-enter").click()


async def _login(page: Page) -> None:
    await tid(page, "login-name").fill("rita")
    await tid(page, "login-password").fill(PASSWORD)
    await tid(page, "login-submit").click()
    await expect(tid(page, "me")).to_have_text("rita")


async def _decide(page: Page, action: str, reason: str) -> None:
    await tid(page, "decision-reason").fill(reason)
    await tid(page, f"action-{action}").click()


async def test_review_uphold_then_appeal_overturn(
    server: DuetServer,
    open_page: OpenPage,
    loopback_only: None,
    callers: list[object],
    tmp_path: Path,
) -> None:
    await _file_reports(server)
    # The pipeline flags a purple caller (explicit, possible minor): held, never banned --
    # a HIGH review item that keeps it out of matching until a reviewer decides.
    purple = await Caller(server.ws_url, PURPLE, device=PURPLE_DEVICE).connect()
    callers.append(purple)
    green = await Caller(server.ws_url, GREEN).connect()
    callers.append(green)
    await purple.join("video")
    await green.join("video")
    await purple.wait_for("matched")
    await _review_item_exists(server)
    await purple.wait_for("held", timeout=10)
    assert (await green.wait_for("partner_left", timeout=5))["reason"] == "ended"

    reviewer = await open_page("/review")
    rp = reviewer.page
    await _login(rp)
    item = tid(rp, "queue-item").and_(rp.locator("[data-kind='review']"))
    await expect(item).to_have_count(1)
    await expect(tid(rp, "queue-item")).to_have_count(3)
    # Oldest first within a priority: the HIGH review item leads the queue.
    await expect(tid(rp, "queue-item").first).to_have_attribute("data-kind", "review")
    await item.click()

    # Blurred and grey by default; a click reveals the original; the box is drawn over it.
    image = tid(rp, "evidence-image")
    frame = rp.locator(".evidence__frame")
    await expect(frame).to_have_attribute("data-revealed", "false")
    assert (await image.get_attribute("src") or "").endswith("/blurred")
    assert "grayscale(1)" in await image.evaluate("i => getComputedStyle(i).filter")
    await expect(rp.locator(".evidence__box rect")).to_have_count(1)
    await expect(rp.locator(".evidence__box text")).to_contain_text("TEST_EXPOSED 97%")
    await expect(tid(rp, "claim")).to_contain_text("yours for")
    if SCREENSHOT:
        await rp.wait_for_function("() => document.querySelector('.evidence__image').complete")
        await rp.screenshot(path=str(REPO_ROOT / SCREENSHOT))
    await tid(rp, "reveal").click()
    await expect(frame).to_have_attribute("data-revealed", "true")
    assert (await image.get_attribute("src") or "").endswith("/original")
    await rp.wait_for_function(
        "() => { const i = document.querySelector('.evidence__image');"
        " return i.complete && i.naturalWidth > 0 && i.src.endsWith('/original'); }"
    )
    await rp.wait_for_function(  # (after a short transition)
        "() => getComputedStyle(document.querySelector('.evidence__image')).filter === 'none'"
    )
    await _decide(rp, "uphold", "Looks under 18 on camera")
    await expect(tid(rp, "decision-result")).to_have_attribute("data-status", "upheld")
    banned = await purple.wait_for("banned", timeout=10)
    assert banned["appeal"]["status"] == "none" and banned["appeal"]["token"]
    await expect(tid(rp, "recent-decisions")).to_contain_text("review.upheld")
    await expect(tid(rp, "recent-decisions")).to_contain_text("Looks under 18 on camera")
    # The ban is listed; the dashboard draws its charts from the live node.
    await tid(rp, "nav-bans").click()
    await expect(tid(rp, "bans-table")).to_contain_text("127.0.0.1")
    await expect(tid(rp, "bans-table")).to_contain_text("review · rita")
    await tid(rp, "nav-dashboard").click()
    await expect(tid(rp, "chart-matches").locator("rect.chart__bar")).to_have_count(24)
    await expect(tid(rp, "tile-breaker")).to_contain_text("closed")
    await expect(tid(rp, "tile-online")).to_contain_text("in a chat")
    await tid(rp, "nav-queue").click()

    # The banned person (the same device, now in a browser) sees the banned screen and
    # appeals; only they get the appeal token, not others behind the same address.
    visitor = await open_page(
        "/", init_script=f"localStorage.setItem('duet.device', '{PURPLE_DEVICE}')"
    )
    vp = visitor.page
    await _enter(vp)
    await expect(tid(vp, "banned")).to_be_visible(timeout=30_000)
    await expect(tid(vp, "banned-reason")).to_contain_text("minor")
    await expect(tid(vp, "banned-until")).not_to_be_empty()
    await expect(tid(vp, "start-video")).to_be_hidden()
    appeal = "That was my <b>purple</b> wall poster, not a person. <script>x</script>"
    await tid(vp, "appeal-text").fill(appeal)
    if BANNED_SCREENSHOT:
        await vp.screenshot(path=str(REPO_ROOT / BANNED_SCREENSHOT))
    await tid(vp, "appeal-send").click()
    await expect(tid(vp, "appeal-status")).to_contain_text("Your appeal was sent")
    await expect(tid(vp, "appeal-text")).to_be_hidden()

    # The reviewer finds the appeal in the queue (it refreshes by itself; the older
    # report comes first), reads it as text, and overturns it.
    appeal_row = tid(rp, "queue-item").and_(rp.locator("[data-kind='appeal']"))
    await expect(appeal_row).to_have_count(1, timeout=15_000)
    await appeal_row.click()
    await expect(tid(rp, "appeal-text")).to_have_text(appeal)
    await expect(rp.locator(".item__hash")).to_have_count(1)  # the ban's evidence, too
    evidence_files = list((tmp_path / "evidence").rglob("e_*.jpg"))
    assert evidence_files
    await _decide(rp, "overturn", "Classifier mistake: a poster")
    await expect(tid(rp, "decision-result")).to_have_attribute("data-status", "overturned")
    assert not any(path.exists() for path in evidence_files)

    # The visitor comes back: told the decision, and chatting again at once.
    await vp.reload()
    await pass_gate(vp)
    await expect(tid(vp, "appeal-decision")).to_contain_text("Your appeal was accepted")
    await wait_online(vp)
    other = await open_page("/")
    await pass_gate(other.page)
    await wait_online(other.page)
    await tid(vp, "start-text").click()
    await tid(other.page, "start-text").click()
    status = tid(vp, "status")
    await expect(status).to_have_attribute("data-state", "matched", timeout=10_000)
    await tid(vp, "chat-input").fill("Thanks for looking again!")
    await tid(vp, "chat-input").press("Enter")
    await expect(tid(other.page, "chat-log").locator("[data-from='stranger']").last).to_have_text(
        "Thanks for looking again!"
    )
    assert_clean(reviewer, visitor, other)
