"""QA of an automatic ban end to end, in Chromium, against a real ``duet serve`` with
moderation on (the colour test classifier in real worker processes) and
``moderation.qa_sample_rate = 1.0``.

A red aiortc caller is banned by the pipeline; a visitor from the same address sees the
banned screen. The reviewer's dashboard shows no measured precision yet; they take the QA
item from the queue, see the evidence blurred, mark the ban wrong; the dashboard's
precision changes to 0 %, and the visitor, back again, is told the ban was lifted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import OpenPage, pass_gate
from tests.e2e.pages import assert_clean, decide, enter_gate, log_in, tid
from tests.support.caller import Caller
from tests.support.servers import DuetServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RED, GREEN = (210, 40, 40), (40, 200, 60)
RED_DEVICE = "e2e_qa_red_device_0001"


@pytest.fixture
def moderation_env(moderation_env: dict[str, str]) -> dict[str, str]:
    """``console_server`` samples every automatic action for QA."""
    return {**moderation_env, "DUET_MODERATION__QA_SAMPLE_RATE": "1.0"}


async def test_reviewer_marks_an_automatic_ban_wrong_and_precision_changes(
    console_server: DuetServer,
    open_console_page: OpenPage,
    loopback_only: None,
    callers: list[object],
    tmp_path: Path,
) -> None:
    red = await Caller(console_server.ws_url, RED, device=RED_DEVICE).connect()
    callers.append(red)
    green = await Caller(console_server.ws_url, GREEN).connect()
    callers.append(green)
    await red.join("video")
    await green.join("video")
    try:
        await red.wait_for("banned", timeout=30)
    except TimeoutError:
        raise AssertionError(
            console_server.counters() + "\n" + console_server.log()[-4000:]
        ) from None

    # The banned person (the same device, now in a browser) sees the banned screen; only
    # the banned session or device gets the ban's appeal token (and so hears of a lift).
    visitor = await open_console_page(
        "/", init_script=f"localStorage.setItem('duet.device', '{RED_DEVICE}')"
    )
    vp = visitor.page
    await enter_gate(vp)
    await expect(tid(vp, "banned")).to_be_visible(timeout=30_000)

    reviewer = await open_console_page("/review")
    rp = reviewer.page
    await log_in(rp)
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
    await decide(rp, "wrong", "Classifier mistake: a red wall")
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
