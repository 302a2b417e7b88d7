"""The door and the room in Chromium: age gate -> proof of work with progress -> Start;
an XSS corpus in chat and display names stays inert; report, block and the camera toggle
from the UI."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.conftest import OpenPage, pass_gate
from tests.e2e.pages import (
    assert_clean,
    expect_last_from_stranger,
    expect_matched,
    send_chat,
    tid,
    wait_online,
)
from tests.support.servers import DuetServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# Counts proof-of-work progress messages, and gives payloads something to call.
WATCH_SCRIPT = """
(() => {
  window.__xss = [];
  window.__powProgress = [];
  const Original = window.Worker;
  window.Worker = class extends Original {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (e.data && e.data.type === "progress") window.__powProgress.push(e.data.tried);
      });
    }
  };
})();
"""

XSS_CORPUS = [
    "<script>window.__xss.push('script')</script>",
    "<img src=x onerror=\"window.__xss.push('img')\">",
    "<svg/onload=window.__xss.push('svg')>",
    '"><iframe src="javascript:window.__xss.push(1)"></iframe>',
    "javascript:window.__xss.push('href')",
    "<a href=\"javascript:window.__xss.push('a')\">click</a>",
    "{{constructor.constructor('window.__xss.push(9)')()}}",
    "\u202egnp.exe <b>bold</b> &lt;escaped&gt; &amp;",
]


async def test_age_gate_then_proof_of_work_with_progress_then_start(open_page: OpenPage) -> None:
    record = await open_page(init_script=WATCH_SCRIPT, gate=False)
    page = record.page
    await expect(tid(page, "gate")).to_be_visible()
    await expect(tid(page, "start-text")).to_be_hidden()
    await expect(page.locator("#conn")).to_have_attribute("data-conn", "offline")
    # Nothing is connected before the door: the page has opened no WebSocket.
    assert await page.evaluate("() => window.__duetSockets.length") == 0
    # The form insists on a year and the confirmation.
    await tid(page, "gate-enter").click()
    await expect(tid(page, "gate-error")).to_have_text("Enter the year you were born.")
    await tid(page, "gate-year").fill("1990")
    await tid(page, "gate-enter").click()
    await expect(tid(page, "gate-error")).to_contain_text("confirm")
    await pass_gate(page, name="Ada")
    progress = await page.evaluate("() => window.__powProgress")
    assert len(progress) >= 1 and progress == sorted(progress)
    assert await page.locator("#gate-progress-bar").evaluate("p => p.value") == 100
    await wait_online(page)
    # The session cookie is HttpOnly: the page's scripts cannot read it.
    assert "duet_session" not in await page.evaluate("() => document.cookie")
    await tid(page, "start-text").click()
    await expect(tid(page, "status")).to_have_attribute("data-state", "searching")
    assert_clean(record)


async def test_under_age_is_refused_for_good(open_page: OpenPage) -> None:
    record = await open_page(gate=False)
    page = record.page
    await tid(page, "gate-year").fill("2015")
    await tid(page, "gate-adult").check()
    await tid(page, "gate-enter").click()
    await expect(tid(page, "gate-error")).to_contain_text("only for adults")
    await expect(tid(page, "gate-enter")).to_be_disabled()
    # Reloading and lying does not help: the device id and the cookie remember.
    await page.reload()
    await tid(page, "gate-year").fill("1980")
    await tid(page, "gate-adult").check()
    await tid(page, "gate-enter").click()
    await expect(tid(page, "gate-error")).to_contain_text("only for adults")
    assert await page.evaluate("() => window.__duetSockets.length") == 0


async def test_xss_in_chat_and_display_names_renders_inert(open_page: OpenPage) -> None:
    # Display names with markup are refused at the door (shown as text, nothing runs).
    evil = await open_page(init_script=WATCH_SCRIPT, gate=False)
    await tid(evil.page, "gate-year").fill("1990")
    await tid(evil.page, "gate-adult").check()
    await tid(evil.page, "gate-name").fill(XSS_CORPUS[1][:24])
    await tid(evil.page, "gate-enter").click()
    await expect(tid(evil.page, "gate-error")).to_contain_text("display name")
    await tid(evil.page, "gate-name").fill("Zoë O'Neil-Smith.")
    await tid(evil.page, "gate-enter").click()
    await tid(evil.page, "start-text").wait_for(state="visible", timeout=30_000)

    other = await open_page(init_script=WATCH_SCRIPT, name="Bob")
    pa, pb = evil.page, other.page
    await tid(pa, "interests").fill("<b>music</b>, Chess , chess")
    await tid(pb, "interests").fill("chess, films")
    await tid(pa, "start-text").click()
    await tid(pb, "start-text").click()
    await expect_matched(pa)
    await expect_matched(pb)
    await expect(tid(pb, "partner-name")).to_have_text("Zoë O'Neil-Smith.")
    await expect(tid(pa, "partner-name")).to_have_text("Bob")
    await expect(tid(pb, "shared-interests")).to_have_text("You both like: chess")
    # Two payloads a message: the chat limit is 5 messages per 5 s.
    for pair in zip(XSS_CORPUS[::2], XSS_CORPUS[1::2], strict=True):
        text = " | ".join(pair)
        await send_chat(pa, text)
        # The server drops bidirectional overrides (spoofing); markup arrives as text.
        await expect_last_from_stranger(pb, text.replace("\u202e", ""))
    for page in (pa, pb):
        assert await page.evaluate("() => window.__xss") == []
        log = tid(page, "chat-log")
        for tag in ("img", "script", "svg", "iframe", "a", "b"):
            assert await log.locator(tag).count() == 0, tag
    # The refused name's 400 is the only console error Chromium logged.
    assert all("status of 400" in error for error in evil.errors), evil.errors
    evil.errors.clear()
    assert_clean(evil, other)


async def _reports_metric(server: DuetServer, reason: str, outcome: str = "weighed") -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(server.url + "/metrics")).text
    match = re.search(rf'duet_reports_total{{outcome="{outcome}",reason="{reason}"}} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def test_report_and_block_from_the_ui(open_page: OpenPage, e2e_duet: DuetServer) -> None:
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    await tid(pa, "start-text").click()
    await tid(pb, "start-text").click()
    await expect_matched(pa)
    await expect_matched(pb)
    await send_chat(pb, "you are the worst")

    # Report: a dialog with reasons and a comment; the server acknowledges it.
    await tid(pa, "report").click()
    dialog = tid(pa, "report-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Harassment or threats").check()
    await tid(pa, "report-comment").fill("rude from the first message")
    await tid(pa, "report-send").click()
    await expect(dialog).to_be_hidden()
    await expect(pa.locator(".toast--info").last).to_contain_text("report was sent")
    # Counted once: weighed, or stored for reviewers without weight when the reporter had
    # been matched for less than reports.verbal_min_match_s (as here, on a fast machine).
    weighed = await _reports_metric(e2e_duet, "harassment")
    assert weighed + await _reports_metric(e2e_duet, "harassment", "too_brief") == 1.0
    # One report changes nothing for the reported person.
    await expect(tid(pb, "status")).to_have_attribute("data-state", "matched")

    # Block: confirm, leave the chat, and never meet again.
    await tid(pa, "block").click()
    await expect(tid(pa, "block-dialog")).to_be_visible()
    await tid(pa, "block-confirm").click()
    await expect(tid(pa, "chat-log").locator("[data-from='system']").last).to_contain_text(
        "You blocked the stranger"
    )
    await expect(tid(pa, "status")).to_have_attribute("data-state", "searching")
    await expect(tid(pb, "status")).to_have_attribute("data-state", "searching")
    await pa.wait_for_timeout(2_500)  # well past the 1 s rematch cooldown
    await expect(tid(pa, "status")).to_have_attribute("data-state", "searching")
    await expect(tid(pb, "status")).to_have_attribute("data-state", "searching")
    await expect(tid(pa, "report")).to_be_disabled()
    assert_clean(a, b)


async def test_the_camera_toggle_tells_the_partner(open_page: OpenPage) -> None:
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    await tid(pa, "start-video").click()
    await tid(pb, "start-video").click()
    await expect_matched(pa)
    await expect_matched(pb)
    await expect(tid(pb, "partner-media")).to_be_hidden()
    await tid(pa, "toggle-camera").click()
    await expect(tid(pa, "toggle-camera")).to_have_attribute("aria-pressed", "false")
    assert await pa.evaluate(
        "() => window.__duetStreams.at(-1).getVideoTracks().every((t) => !t.enabled)"
    )
    await expect(tid(pb, "partner-media")).to_have_text("Stranger turned their camera off")
    await tid(pa, "toggle-mic").click()
    await expect(tid(pb, "partner-media")).to_have_text(
        "Stranger turned their camera and microphone off"
    )
    await tid(pa, "toggle-camera").click()
    await tid(pa, "toggle-mic").click()
    await expect(tid(pb, "partner-media")).to_be_hidden()
    assert_clean(a, b)
