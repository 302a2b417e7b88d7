"""Page helpers shared by the browser tests."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from tests.e2e.conftest import PASSWORD, REVIEWER, PageRecord

MATCH_TIMEOUT_MS = 10_000
PLAY_TIMEOUT_MS = 12_000


def tid(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(name)


async def wait_online(page: Page) -> None:
    """The server has welcomed the page (the top bar says so)."""
    await expect(page.locator("#conn")).to_have_attribute("data-conn", "online")


async def expect_matched(page: Page) -> None:
    status = tid(page, "status")
    await expect(status).to_have_attribute("data-state", "matched", timeout=MATCH_TIMEOUT_MS)
    await expect(status).to_have_text("Connected with a stranger")
    await expect(tid(page, "chat-input")).to_be_enabled()
    await expect(tid(page, "next")).to_be_enabled()


async def expect_remote_video_plays(page: Page) -> None:
    """The partner's video has decoded frames and its clock advances over ~1 s."""
    video = tid(page, "remote-video")
    await video.evaluate(
        """(v, ms) => new Promise((resolve, reject) => {
             const deadline = Date.now() + ms;
             const poll = () => {
               if (v.videoWidth > 0 && !v.paused) return resolve();
               if (Date.now() > deadline)
                 return reject(new Error(`remote video not playing: width=${v.videoWidth}`));
               setTimeout(poll, 100);
             };
             poll();
           })""",
        PLAY_TIMEOUT_MS,
    )
    before = await video.evaluate("v => v.currentTime")
    await asyncio.sleep(1.0)
    after = await video.evaluate("v => v.currentTime")
    assert after - before > 0.5, f"remote video is frozen ({before} -> {after})"
    # The "partner video is loading" overlay is gone once it plays.
    await expect(page.locator("#remote")).to_have_attribute("data-overlay", "none")


async def send_chat(page: Page, text: str) -> None:
    await tid(page, "chat-input").fill(text)
    await tid(page, "chat-input").press("Enter")
    await expect(tid(page, "chat-log").locator("[data-from='me']").last).to_have_text(text)


async def expect_last_from_stranger(page: Page, text: str) -> None:
    message = tid(page, "chat-log").locator("[data-from='stranger']").last
    await expect(message).to_have_text(text)


async def camera_stopped(page: Page) -> bool:
    """Every track getUserMedia handed out on this page has ended."""
    return bool(
        await page.evaluate(
            """() => window.__duetStreams.length > 0 && window.__duetStreams.every(
                 (s) => s.getTracks().every((t) => t.readyState === "ended"))"""
        )
    )


async def selected_ice_path(page: Page) -> dict[str, str]:
    """The latest peer connection's policy and selected candidate pair (types, addresses)."""
    result: dict[str, str] = await page.evaluate(
        """async () => {
             const pc = window.__duetPeers.at(-1);
             const stats = await pc.getStats();
             for (const report of stats.values()) {
               if (report.type !== "transport" || !report.selectedCandidatePairId) continue;
               const pair = stats.get(report.selectedCandidatePairId);
               const local = stats.get(pair.localCandidateId);
               const remote = stats.get(pair.remoteCandidateId);
               return {
                 policy: pc.getConfiguration().iceTransportPolicy,
                 localType: local.candidateType, localAddress: local.address,
                 remoteAddress: remote.address,
               };
             }
             return {policy: pc.getConfiguration().iceTransportPolicy};
           }"""
    )
    return result


def assert_clean(*records: PageRecord) -> None:
    for record in records:
        assert record.dialogs == [], f"a dialog opened: {record.dialogs}"
        assert record.errors == [], f"page errors: {record.errors}"


# --- the reviewer console --------------------------------------------------------------


async def enter_gate(page: Page) -> None:
    """The age gate and the challenge, for a visitor who may be banned once in (so no
    waiting for the mode choice)."""
    await tid(page, "gate-year").fill("1990")
    await tid(page, "gate-adult").check()
    await tid(page, "gate-enter").click()


async def log_in(page: Page) -> None:
    """Log the console in as ``console_server``'s reviewer."""
    await tid(page, "login-name").fill(REVIEWER)
    await tid(page, "login-password").fill(PASSWORD)
    await tid(page, "login-submit").click()
    await expect(tid(page, "me")).to_have_text(REVIEWER)


async def decide(page: Page, action: str, reason: str) -> None:
    """Decide the opened item with ``action`` (``action-<action>``) and ``reason``."""
    await tid(page, "decision-reason").fill(reason)
    await tid(page, f"action-{action}").click()
