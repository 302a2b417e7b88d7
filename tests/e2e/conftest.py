"""Fixtures for browser tests: coturn and ``duet serve`` on loopback, headless Chromium.

Every packet stays on 127.0.0.0/8. Chromium never gathers 127.0.0.1 candidates, so its
media goes through a real coturn listening and relaying on 127.0.0.1 (the server tells the
browser ``iceTransportPolicy: "relay"``), and the SFU gathers on 127.0.0.1 only.

coturn and ``duet serve`` come from ``tests/support/servers.py`` (the shared ``coturn``
fixture and ``run_duet``); this file adds the TURN settings for the browser and Chromium.
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

from tests.support.servers import Coturn, DuetServer, run_duet

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
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        context.set_default_timeout(8_000)
        await context.add_init_script(INSTRUMENT_SCRIPT)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        record = PageRecord(page)

        async def on_dialog(dialog: Dialog) -> None:
            record.dialogs.append(dialog.message)
            await dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                record.errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: record.errors.append(str(exc)))
        await page.goto(e2e_duet.url + "/")
        if gate:
            await pass_gate(page, name=name)
        return record

    try:
        yield open_one
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                await context.close()
