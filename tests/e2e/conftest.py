"""Fixtures for browser tests: coturn and ``duet serve`` on loopback, headless Chromium.

Every packet stays on 127.0.0.0/8. Chromium never gathers 127.0.0.1 candidates, so its
media goes through a real coturn listening and relaying on 127.0.0.1 (the server tells the
browser ``iceTransportPolicy: "relay"``), and the SFU gathers on 127.0.0.1 only.

coturn and ``duet serve`` come from ``tests/support/servers.py`` (the shared ``coturn``
fixture and ``run_duet``); this file adds the TURN settings for the browser and Chromium,
and for the reviewer console's tests a node with moderation on and a reviewer account
(``console_server``, its settings from ``moderation_env``) and ``open_console_page``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    async_playwright,
)

from tests.support.servers import (
    Coturn,
    DuetServer,
    create_reviewer,
    run_duet,
    wait_moderation_ready,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]

# Records every stream getUserMedia hands out, every WebSocket and every RTCPeerConnection
# made, so a test can check that the camera was stopped (all tracks "ended"), drop the
# server connection, and see which ICE path media took, without the app exposing anything
# for tests.
INSTRUMENT_SCRIPT = """
(() => {
  window.__duetStreams = [];
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    window.__duetStreams.push(stream);
    return stream;
  };
  window.__duetSockets = [];
  const OriginalSocket = window.WebSocket;
  window.WebSocket = class extends OriginalSocket {
    constructor(...args) {
      super(...args);
      window.__duetSockets.push(this);
    }
  };
  window.__duetPeers = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Original {
    constructor(...args) {
      super(...args);
      window.__duetPeers.push(this);
    }
  };
})();
"""


# --- servers ------------------------------------------------------------------------------


@pytest.fixture
def e2e_duet(tmp_path: Path, coturn: Coturn) -> Iterator[DuetServer]:
    """``duet serve`` on a free loopback port that hands browsers relay-only ICE through
    the ``coturn`` fixture, with a 1 s rematch cooldown (so Next is testable with two)."""
    env = {
        **coturn.region_env(),
        "DUET_TURN__FORCE_RELAY": "true",
        "DUET_MATCHING__REMATCH_COOLDOWN_S": "1",
    }
    with run_duet(tmp_path, env=env) as server:
        yield server


REVIEWER = "rita"
PASSWORD = "a reviewer's long password"
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
"""The console tests' node: moderation on with the colour test classifier (red explicit,
purple explicit and a possible minor) in real worker processes."""


@pytest.fixture
def moderation_env() -> dict[str, str]:
    """The environment of ``console_server``; a test module overrides this fixture to
    change a setting (e.g. the QA sample rate)."""
    return dict(MODERATION_ENV)


@pytest.fixture
def console_server(tmp_path: Path, moderation_env: dict[str, str]) -> Iterator[DuetServer]:
    """``duet serve`` with ``moderation_env`` and the moderator ``REVIEWER`` (made the way
    an operator makes one, before the node starts), once a moderation worker is ready."""
    database_url = f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3"
    create_reviewer(database_url, REVIEWER, PASSWORD)
    with run_duet(tmp_path, moderation_env) as server:
        wait_moderation_ready(server)
        yield server


# --- Chromium ----------------------------------------------------------------------------


async def pass_gate(page: Page, name: str | None = None, year: int = 1990) -> None:
    """Answer the age gate, wait for the proof of work, land on the mode choice."""
    await page.get_by_test_id("gate-year").fill(str(year))
    await page.get_by_test_id("gate-adult").check()
    if name is not None:
        await page.get_by_test_id("gate-name").fill(name)
    await page.get_by_test_id("gate-enter").click()
    await page.get_by_test_id("start-text").wait_for(state="visible", timeout=30_000)


@dataclass
class PageRecord:
    """A page plus what it reported: dialogs that opened and console errors."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


OpenPage = Callable[..., Awaitable[PageRecord]]


async def _new_page(
    browser: Browser,
    contexts: list[BrowserContext],
    viewport: tuple[int, int],
    timeout_ms: float,
    init_scripts: list[str],
) -> PageRecord:
    """A page in a fresh browser context (kept in ``contexts`` to be closed), its console
    errors and uncaught exceptions recorded; ``init_scripts`` run before the app."""
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    contexts.append(context)
    context.set_default_timeout(timeout_ms)
    for script in init_scripts:
        await context.add_init_script(script)
    page = await context.new_page()
    record = PageRecord(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            record.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: record.errors.append(str(exc)))
    return record


async def _close_all(contexts: list[BrowserContext]) -> None:
    for context in contexts:
        with contextlib.suppress(Exception):
            await context.close()


@pytest.fixture
async def open_page(browser: Browser, e2e_duet: DuetServer) -> AsyncIterator[OpenPage]:
    """Open the app in a fresh browser context (a separate visitor) per call."""
    contexts: list[BrowserContext] = []

    async def open_one(
        init_script: str | None = None, gate: bool = True, name: str | None = None
    ) -> PageRecord:
        """A new visitor; ``init_script`` runs in the page before the app (e.g. to fake a
        browser failure). With ``gate`` the visitor passes the age gate and the anti-bot
        check (as ``name``) and lands on the mode choice."""
        scripts = [INSTRUMENT_SCRIPT] + ([init_script] if init_script else [])
        record = await _new_page(browser, contexts, (1280, 800), 8_000, scripts)
        page = record.page

        async def on_dialog(dialog: Dialog) -> None:
            record.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        await page.goto(e2e_duet.url + "/")
        if gate:
            await pass_gate(page, name=name)
        return record

    try:
        yield open_one
    finally:
        await _close_all(contexts)


@pytest.fixture
async def open_console_page(
    browser: Browser, console_server: DuetServer
) -> AsyncIterator[OpenPage]:
    """Open ``path`` of ``console_server`` (the console at ``/review``, or the app at
    ``/``) in a fresh browser context per call; dialogs are left to Playwright (dismissed)."""
    contexts: list[BrowserContext] = []

    async def open_one(path: str, init_script: str | None = None) -> PageRecord:
        """``init_script`` runs in the page before the app."""
        scripts = [init_script] if init_script else []
        record = await _new_page(browser, contexts, (1440, 900), 10_000, scripts)
        await record.page.goto(console_server.url + path)
        return record

    try:
        yield open_one
    finally:
        await _close_all(contexts)
