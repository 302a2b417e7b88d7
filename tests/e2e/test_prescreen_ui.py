"""The pre-screen in Chromium: while the server holds a new partner's video until it was
checked (``moderation.prescreen``), each page says so -- the partner's tile shows
"checking" instead of a frozen or black picture, the visitor's own tile says why the
stranger cannot see them yet -- and then the partner's video plays.

Moderation runs the colour test classifier (``tests.support.classifiers``) with a slow
check (``DUETTEST_DELAY_S``), so that the waiting state lasts long enough to be seen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import OpenPage
from tests.e2e.pages import (
    assert_clean,
    expect_matched,
    expect_remote_video_plays,
    tid,
    wait_online,
)
from tests.support.servers import Coturn, DuetServer, run_duet, wait_moderation_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def e2e_duet(tmp_path: Path, coturn: Coturn) -> Iterator[DuetServer]:
    """As ``tests/e2e/conftest.py``'s, with moderation and the pre-screen on."""
    env = {
        **coturn.region_env(),
        "DUET_TURN__FORCE_RELAY": "true",
        "DUET_MATCHING__REMATCH_COOLDOWN_S": "1",
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__PRESCREEN": "true",
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
        "DUET_MODERATION__CHECK_TIMEOUT_S": "5",
        "DUET_MODERATION__TAP_TIMEOUT_S": "2",
        "DUETTEST_DELAY_S": "1.5",
    }
    with run_duet(tmp_path, env=env) as server:
        wait_moderation_ready(server)
        yield server


async def test_partner_tile_waits_for_the_check_then_plays(open_page: OpenPage) -> None:
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    await wait_online(pa)
    await wait_online(pb)
    await tid(pa, "start-video").click()
    await tid(pb, "start-video").click()
    await expect_matched(pa)
    await expect_matched(pb)

    # Held: the partner's tile says it is checking (the video element is not shown), and
    # the visitor's own tile says why the stranger cannot see them yet.
    for page in (pa, pb):
        await expect(page.locator("#remote")).to_have_attribute("data-overlay", "checking")
        await expect(page.locator("#remote-overlay-text")).to_have_text(
            "Checking the stranger's video…"
        )
        assert (
            await tid(page, "remote-video").evaluate("v => getComputedStyle(v).visibility")
            == "hidden"
        )
        await expect(tid(page, "own-video-state")).to_be_visible()
        await expect(tid(page, "own-video-state")).to_contain_text("Checking your video")
        # Chat works meanwhile.
        await expect(tid(page, "chat-input")).to_be_enabled()

    # Checked safe: the partner's video plays and the notices go away.
    await expect_remote_video_plays(pa)
    await expect_remote_video_plays(pb)
    for page in (pa, pb):
        await expect(tid(page, "own-video-state")).to_be_hidden()
    assert_clean(a, b)
