"""Two Chromium pages in a video chat through a node with ``sfu.forwarding = "packets"``.

Chromium (libwebrtc) is the receiver that matters: it must accept the rewritten packets
(SSRC, sequence numbers, timestamps, header extension ids), the translated Sender Reports
and the keyframe-gated switch at Next, over coturn on loopback as in the other UI tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import OpenPage
from tests.e2e.pages import expect_matched, expect_remote_video_plays, tid, wait_online
from tests.support.servers import Coturn, DuetServer, run_duet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

INBOUND = """async (pc) => {
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') out[s.kind] = {
      packets: s.packetsReceived, frames: s.framesDecoded || 0, lost: s.packetsLost,
      freezes: s.freezeCount || 0,
    };
  });
  return out;
}"""


@pytest.fixture
def e2e_duet(tmp_path: Path, coturn: Coturn) -> Iterator[DuetServer]:
    env = {
        **coturn.region_env(),
        "DUET_TURN__FORCE_RELAY": "true",
        "DUET_MATCHING__REMATCH_COOLDOWN_S": "1",
        "DUET_SFU__FORWARDING": "packets",
    }
    with run_duet(tmp_path, env=env) as server:
        yield server


async def _inbound(page: Any) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = await page.evaluate(
        f"() => ({INBOUND})(window.__duetPeers[window.__duetPeers.length - 1])"
    )
    return stats


async def _expect_media_flows(page: Any) -> None:
    """Video frames decoded and audio packets received keep rising (no frozen stream)."""
    before = await _inbound(page)
    await asyncio.sleep(1.5)
    after = await _inbound(page)
    assert after["video"]["frames"] - before["video"]["frames"] >= 15, (before, after)
    assert after["audio"]["packets"] - before["audio"]["packets"] >= 30, (before, after)


async def test_browsers_play_packet_forwarded_media_across_next(
    open_page: OpenPage, e2e_duet: DuetServer
) -> None:
    health = await (await open_page(gate=False)).page.request.get(e2e_duet.url + "/healthz")
    assert (await health.json())["forwarding"] == "packets"
    a, b = await open_page(), await open_page()
    pa, pb = a.page, b.page
    await wait_online(pa)
    await wait_online(pb)
    await tid(pa, "start-video").click()
    await tid(pb, "start-video").click()
    await expect_matched(pa)
    await expect_matched(pb)
    for page in (pa, pb):
        await expect_remote_video_plays(page)
        await _expect_media_flows(page)

    # Next, then the same two meet again after the cooldown: the same peer connections,
    # re-wired by the server; the browsers' decoders take the new run of packets.
    await tid(pa, "next").click()
    await expect_matched(pa)
    await expect_matched(pb)
    for page in (pa, pb):
        await expect_remote_video_plays(page)
        await _expect_media_flows(page)
        assert await page.evaluate("() => window.__duetPeers.length") == 1
    assert not a.errors and not b.errors, (a.errors, b.errors)
