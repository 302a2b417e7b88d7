"""The browser client end to end: two headless Chromium pages against a real ``duet serve``.

Media goes page -> coturn (127.0.0.1) -> SFU -> coturn -> other page; see conftest.py.
Every wait is bounded by a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import OpenPage
from tests.e2e.pages import (
    assert_clean,
    camera_stopped,
    expect_last_from_stranger,
    expect_matched,
    expect_remote_video_plays,
    selected_ice_path,
    send_chat,
    tid,
    wait_online,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

XSS = "<img src=x onerror=alert(1)>"
SCREENSHOT = os.environ.get("DUET_SCREENSHOT", "")
"""Where test_screenshot saves the chat view (the README's docs/screenshot-chat.png)."""


async def test_video_chat_match_chat_next_stop(open_page: OpenPage) -> None:
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    await wait_online(pa)
    await wait_online(pb)
    await expect(tid(pa, "start-video")).to_be_visible()
    await expect(tid(pa, "chat-log")).to_be_hidden()

    # Start: A waits alone first, then B arrives and both are matched.
    await tid(pa, "start-video").click()
    await expect(tid(pa, "status")).to_have_attribute("data-state", "searching")
    await expect(tid(pa, "status")).to_have_text("Looking for someone…")
    await expect(tid(pa, "chat-input")).to_be_disabled()
    await expect(tid(pa, "next")).to_be_disabled()
    await expect(pa.locator("#remote")).to_have_attribute("data-overlay", "searching")
    await tid(pb, "start-video").click()
    await expect_matched(pa)
    await expect_matched(pb)

    # The local preview shows the camera, muted and mirrored.
    local = tid(pa, "local-video")
    assert await local.evaluate("v => v.muted && v.srcObject instanceof MediaStream")
    assert await local.evaluate("v => getComputedStyle(v).transform") != "none"

    # Media both ways, through the SFU and the relay.
    await expect_remote_video_plays(pa)
    await expect_remote_video_plays(pb)
    remote_tracks = await tid(pa, "remote-video").evaluate(
        "v => v.srcObject.getTracks().map((t) => t.kind).sort().join(',')"
    )
    assert remote_tracks == "audio,video"
    # Media went through coturn on loopback (the server asked for relay-only ICE).
    for page in (pa, pb):
        path = await selected_ice_path(page)
        assert path == {
            "policy": "relay",
            "localType": "relay",
            "localAddress": "127.0.0.1",
            "remoteAddress": "127.0.0.1",
        }, path

    # Chat both ways.
    await send_chat(pa, "Hi there from A")
    await expect_last_from_stranger(pb, "Hi there from A")
    await send_chat(pb, "Hello A, B here 👋")
    await expect_last_from_stranger(pa, "Hello A, B here 👋")

    # Markup is shown as text: no element is created, no script runs.
    await send_chat(pa, XSS)
    await expect_last_from_stranger(pb, XSS)
    assert await tid(pb, "chat-log").locator("img").count() == 0
    assert await tid(pa, "chat-log").locator("img").count() == 0

    # Typing indicator: on while A types, off ~2 s after A stops.
    typing_b = pb.get_by_test_id("typing")
    await expect(typing_b).to_be_hidden()
    await tid(pa, "chat-input").press_sequentially("still typ", delay=30)
    await expect(typing_b).to_be_visible(timeout=3_000)
    await expect(typing_b).to_have_text("Stranger is typing…")
    await expect(typing_b).to_be_hidden(timeout=4_000)
    # ...and off at once when the message is sent.
    await tid(pa, "chat-input").press_sequentially("ing", delay=30)
    await expect(typing_b).to_be_visible(timeout=3_000)
    await tid(pa, "chat-input").press("Enter")
    await expect_last_from_stranger(pb, "still typing")
    await expect(typing_b).to_be_hidden(timeout=1_000)

    # Next: B is told A skipped them and waits; after the 1 s cooldown they meet again.
    await tid(pa, "next").click()
    await expect(tid(pa, "status")).not_to_have_attribute("data-state", "matched")
    status_b = tid(pb, "status")
    await expect(status_b).to_have_text("Stranger skipped you — finding someone new…")
    await expect(status_b).to_have_attribute("data-state", "searching")
    await expect(tid(pb, "chat-input")).to_be_disabled()
    await expect(tid(pb, "chat-log").locator("[data-from='system']").last).to_have_text(
        "The stranger skipped you."
    )
    # The remote video is cleared and a placeholder shown while waiting.
    assert await tid(pb, "remote-video").evaluate("v => v.srcObject === null")
    await expect(pb.locator("#remote")).to_have_attribute("data-overlay", "searching")

    await expect_matched(pa)
    await expect_matched(pb)
    # Same peer connection, re-wired by the server: media flows again.
    await expect_remote_video_plays(pa)
    await expect_remote_video_plays(pb)
    assert await pa.evaluate("() => window.__duetPeers.length") == 1
    await send_chat(pb, "again!")
    await expect_last_from_stranger(pa, "again!")

    # Stop: A goes back to the landing page with the camera off; B is told.
    await tid(pa, "stop").click()
    await expect(tid(pa, "start-video")).to_be_visible()
    await expect(tid(pa, "status")).to_be_hidden()
    assert await tid(pa, "local-video").evaluate("v => v.srcObject === null")
    assert await camera_stopped(pa)
    await expect(status_b).to_have_text("Stranger left — finding someone new…")
    await expect(status_b).to_have_attribute("data-state", "searching")
    await expect(tid(pb, "chat-input")).to_be_disabled()

    # A starts again on the same page: a new join with a new peer connection and camera.
    await tid(pa, "start-video").click()
    await expect_matched(pa)
    await expect_matched(pb)
    await expect(tid(pa, "chat-log").locator("[data-from='stranger']")).to_have_count(0)
    await expect_remote_video_plays(pa)
    await expect_remote_video_plays(pb)
    assert await pa.evaluate("() => window.__duetPeers.length") == 2

    # Both stop; every camera is off.
    await tid(pa, "stop").click()
    await expect(tid(pa, "start-video")).to_be_visible()
    assert await camera_stopped(pa)
    await tid(pb, "stop").click()
    await expect(tid(pb, "start-text")).to_be_visible()
    assert await camera_stopped(pb)
    assert_clean(a, b)


async def test_text_chat(open_page: OpenPage) -> None:
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    await wait_online(pa)
    await wait_online(pb)

    await tid(pa, "start-text").click()
    await expect(tid(pa, "status")).to_have_attribute("data-state", "searching")
    await expect(tid(pa, "chat-input")).to_be_disabled()
    await tid(pb, "start-text").click()
    await expect_matched(pa)
    await expect_matched(pb)

    # No camera in text mode: no videos shown, getUserMedia never called.
    await expect(tid(pa, "remote-video")).to_be_hidden()
    await expect(tid(pa, "local-video")).to_be_hidden()
    assert await pa.evaluate("() => window.__duetStreams.length") == 0

    await send_chat(pb, "text only?")
    await expect_last_from_stranger(pa, "text only?")
    await send_chat(pa, XSS)
    await expect_last_from_stranger(pb, XSS)
    assert await tid(pb, "chat-log").locator("img").count() == 0

    # The send button works too (not just Enter), and emoji go in at the caret.
    await tid(pa, "chat-input").fill("nice ")
    await pa.locator("#emoji-toggle").click()
    await pa.locator("#emoji-picker button").first.click()
    await expect(tid(pa, "chat-input")).to_have_value("nice 😀")
    await tid(pa, "chat-send").click()
    await expect_last_from_stranger(pb, "nice 😀")

    # Esc twice = Next (one Esc only asks to confirm).
    await pa.keyboard.press("Escape")
    await expect(tid(pa, "next")).to_have_text("Really? Esc")
    await expect(tid(pb, "status")).to_have_attribute("data-state", "matched")
    await pa.keyboard.press("Escape")
    await expect(tid(pb, "status")).to_have_text("Stranger skipped you — finding someone new…")
    await expect(tid(pa, "status")).to_have_text("Finding someone new…")
    await expect_matched(pa)  # re-paired after the 1 s cooldown
    await expect_matched(pb)
    await expect(tid(pa, "chat-log").locator("[data-from='stranger']")).to_have_count(0)

    await tid(pb, "stop").click()
    await expect(tid(pb, "start-text")).to_be_visible()
    await expect(tid(pa, "status")).to_have_text("Stranger left — finding someone new…")
    await tid(pa, "stop").click()
    await expect(tid(pa, "start-text")).to_be_visible()
    assert_clean(a, b)


async def test_blocked_camera_explains_and_returns_to_landing(open_page: OpenPage) -> None:
    deny = """navigator.mediaDevices.getUserMedia = () =>
                Promise.reject(new DOMException("denied", "NotAllowedError"));"""
    a = await open_page(init_script=deny)
    page = a.page
    await wait_online(page)
    await tid(page, "start-video").click()
    await expect(page.locator("#landing-error")).to_contain_text("blocked")
    await expect(tid(page, "start-text")).to_be_visible()
    await expect(tid(page, "status")).to_be_hidden()
    assert await page.evaluate("() => window.__duetPeers.length") == 0


async def test_reconnects_and_joins_again_after_losing_the_server(open_page: OpenPage) -> None:
    """The socket drops mid-chat: the user sees it, the partner is told, and the page
    reconnects, joins again by itself and is matched again."""
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    for page in (pa, pb):
        await wait_online(page)
        await tid(page, "start-text").click()
    await expect_matched(pa)
    await expect_matched(pb)

    await pa.evaluate("() => window.__duetSockets.at(-1).close()")
    await expect(tid(pa, "status")).to_have_attribute("data-state", "reconnecting")
    await expect(pa.locator("#conn")).to_have_attribute("data-conn", "offline")
    await expect(tid(pa, "chat-input")).to_be_disabled()
    await expect(tid(pb, "status")).to_have_text("Stranger disconnected — finding someone new…")

    await wait_online(pa)
    await expect_matched(pa)
    await expect_matched(pb)
    assert await pa.evaluate("() => window.__duetSockets.length") == 2
    await send_chat(pa, "I'm back")
    await expect_last_from_stranger(pb, "I'm back")
    assert_clean(b)


async def test_chat_view_screenshot(open_page: OpenPage, tmp_path: Path) -> None:
    """The video chat view with a partner and some chat renders to a picture.

    Set ``DUET_SCREENSHOT=docs/screenshot-chat.png`` to regenerate the README's picture."""
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    for page in (pa, pb):
        await wait_online(page)
        await tid(page, "start-video").click()
    await expect_matched(pa)
    await expect_remote_video_plays(pa)
    lines = [
        (pb, "hey! where are you from?"),
        (pa, "Hi! Lisbon. You?"),
        (pb, "Toronto, it's already snowing here"),
        (pa, "No way, it's 20 degrees here"),
        (pb, "jealous. what are you up to today?"),
    ]
    for page, text in lines:
        await send_chat(page, text)
    await tid(pb, "chat-input").press_sequentially("just got back from", delay=20)
    await expect(pa.get_by_test_id("typing")).to_be_visible()
    path = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "chat.png"
    await pa.screenshot(path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
