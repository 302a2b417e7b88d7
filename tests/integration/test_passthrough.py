"""Encoded passthrough in an in-process SFU with real aiortc callers on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

from sfu import Router, SfuSettings
from sfu.passthrough import EncodedFeed, EncodedTrack
from tests.support.caller import CallerMedia, DecodeErrors
from tests.support.inproc import connect_caller, pair_callers

RED, GREEN = (210, 40, 40), (40, 200, 60)


@pytest.fixture
async def router(loopback_only: None) -> AsyncIterator[Router]:
    router = Router(SfuSettings(host_addresses=["127.0.0.1"], forwarding="passthrough"))
    await router.start()
    yield router
    await router.close()


def _receiver(media: CallerMedia, kind: str) -> Any:
    assert media.pc is not None
    return next(t.receiver for t in media.pc.getTransceivers() if t.kind == kind)


def _sender(media: CallerMedia, kind: str) -> Any:
    assert media.pc is not None
    return next(t.sender for t in media.pc.getTransceivers() if t.kind == kind)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_partner_decodes_forwarded_video_without_errors(
    router: Router, decode_errors: DecodeErrors
) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    await a.wait_frames_like(GREEN, count=30)
    await b.wait_frames_like(RED, count=30)
    assert a.frames_like(RED) == 0 and b.frames_like(GREEN) == 0
    assert a.received.audio_frames > 20 and b.received.audio_frames > 20
    assert decode_errors.count == 0
    # Nothing was transcoded: the feeds carry encoded frames, forwarded as they came.
    feed = router.peers["a"].feeds["video"]
    track = router.peers["b"].outbound["video"]
    assert isinstance(feed, EncodedFeed) and isinstance(track, EncodedTrack)
    assert feed.keyframes >= 1 and track.frames > 20
    for media in (a, b):
        await media.close()


async def test_partner_keyframe_request_is_relayed_to_the_source(router: Router) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    source = router.peers["a"].feeds["video"]
    before_keyframes, before_requests = source.keyframes, source.keyframe_requests  # type: ignore[attr-defined]
    await asyncio.sleep(PLI_GAP)
    # b's decoder "lost a picture": it sends a PLI for the stream the SFU sends it.
    receiver = _receiver(b, "video")
    ssrc = receiver.getSynchronizationSources()[0].source
    await receiver._send_rtcp_pli(ssrc)
    await _until(lambda: source.keyframes > before_keyframes)
    assert source.keyframe_requests > before_requests  # type: ignore[attr-defined]
    assert router.peers["b"].outbound["video"].keyframe_requests >= 1  # type: ignore[attr-defined]
    for media in (a, b):
        await media.close()


PLI_GAP = 0.4  # more than the coalescing interval


async def test_partner_recovers_after_the_sfu_drops_frames(
    router: Router, decode_errors: DecodeErrors
) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    track = router.peers["b"].outbound["video"]
    source = router.peers["a"].feeds["video"]
    assert isinstance(track, EncodedTrack) and isinstance(source, EncodedFeed)
    original_recv = track.recv
    stalled = False

    async def stall_once() -> Any:
        nonlocal stalled
        if not stalled:
            stalled = True
            await asyncio.sleep(2.5)  # the bounded queue overflows meanwhile
        return await original_recv()

    requests_before = source.keyframe_requests
    keyframes_before = source.keyframes
    track.recv = stall_once  # type: ignore[method-assign]
    await _until(lambda: stalled)
    await asyncio.sleep(2.6)
    resumed = time.monotonic()
    await b.wait_frames_like(RED, count=15, since=resumed)
    assert track.dropped > 0
    assert source.keyframe_requests > requests_before
    assert source.keyframes > keyframes_before
    assert decode_errors.count == 0
    for media in (a, b):
        await media.close()


async def test_loss_at_the_receiver_gates_video_until_a_keyframe(router: Router) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    source = router.peers["a"].feeds["video"]
    assert isinstance(source, EncodedFeed)
    keyframes = source.keyframes
    forwarded = router.peers["b"].outbound["video"].frames
    source.lost()  # what the receiver hook reports when its jitter buffer drops packets
    await _until(lambda: source.keyframes > keyframes)
    await _until(lambda: router.peers["b"].outbound["video"].frames > forwarded + 5)
    assert source.losses == 1
    for media in (a, b):
        await media.close()


async def test_partner_bandwidth_estimate_reaches_the_source(router: Router) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    # b tells the SFU it can only take 300 kbit/s of the video it receives.
    receiver = _receiver(b, "video")
    ssrc = receiver.getSynchronizationSources()[0].source
    remb = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1234, media_ssrc=0, fci=pack_remb_fci(300_000, [ssrc])
    )
    await receiver._send_rtcp(remb)
    encoder_of_a = lambda: _sender(a, "video")._RTCRtpSender__encoder  # noqa: E731
    await _until(lambda: encoder_of_a() is not None and encoder_of_a().target_bitrate == 300_000)
    for media in (a, b):
        await media.close()


async def test_tap_returns_own_frame_with_a_requested_keyframe(router: Router) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    source = router.peers["a"].feeds["video"]
    keyframes = source.keyframes
    frame = await router.tap("a", timeout=2)
    assert frame is not None
    assert source.keyframes > keyframes  # the tap asked a for a keyframe and decoded it
    _blue, green, red = frame.reshape(-1, 3).mean(axis=0)
    assert red > 150 and green < 100
    for media in (a, b):
        await media.close()


async def test_tap_falls_back_to_recent_frames_when_no_keyframe_comes(router: Router) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    source = router.peers["b"].feeds["video"]
    assert isinstance(source, EncodedFeed)
    source.request_keyframe = lambda: None  # type: ignore[method-assign]  # a PLI-deaf source
    keyframes = source.keyframes
    assert source.gop, "the feed keeps the frames since the last keyframe"
    frame = await router.tap("b", timeout=0.3)
    assert frame is not None
    assert source.keyframes == keyframes
    _blue, green, red = frame.reshape(-1, 3).mean(axis=0)
    assert green > 150 and red < 100
    for media in (a, b):
        await media.close()


async def test_transcode_mode_still_forwards(loopback_only: None) -> None:
    router = Router(SfuSettings(host_addresses=["127.0.0.1"], forwarding="transcode"))
    await router.start()
    try:
        a, b = await pair_callers(router, RED, GREEN)
        await b.wait_frames_like(RED, count=10)
        assert await router.tap("a", timeout=2) is not None
        for media in (a, b):
            await media.close()
    finally:
        await router.close()


async def test_stats_report_rates_candidate_types_and_monotonic_totals(router: Router) -> None:
    a, b = await pair_callers(router, RED, GREEN)
    await router.stats.sample()
    await asyncio.sleep(1.0)
    await router.stats.sample()
    stats = router.stats.peers["a"]
    assert stats.candidate_type == "host"
    assert stats.bitrate_in > 10_000 and stats.bitrate_out > 10_000
    assert 5 < stats.fps_in < 40 and 5 < stats.fps_out < 40
    assert stats.counters.keyframes_in >= 1
    assert router.stats.candidate_types() == {"host": 2}
    live = router.stats.totals()
    assert live.packets_sent["video"] > 0 and live.bytes_sent["audio"] > 0
    # Closing a peer keeps what it sent in the totals.
    await router.close_peer("a")
    after = router.stats.totals()
    assert after.packets_sent["video"] >= live.packets_sent["video"]
    assert "a" not in router.stats.peers
    for media in (a, b):
        await media.close()


async def test_port_range_and_announced_address_of_sfu_candidates(loopback_only: None) -> None:
    from tests.support.net import free_port_range

    low, high = free_port_range(10)
    router = Router(
        SfuSettings(
            host_addresses=["127.0.0.1"], port_min=low, port_max=high, announced_address="127.0.0.1"
        )
    )
    await router.start()
    try:
        a, b = await pair_callers(router, RED, GREEN)
        for visitor in ("a", "b"):
            sdp = router.peers[visitor].pc.localDescription.sdp
            ports = [int(line.split()[5]) for line in sdp.splitlines() if " typ host" in line]
            assert ports and all(low <= port <= high for port in ports), sdp
        for media in (a, b):
            await media.close()
        # Announcing another address changes what the SDP says, not where it is bound.
        router.settings = SfuSettings(
            host_addresses=["127.0.0.1"],
            port_min=low,
            port_max=high,
            announced_address="198.51.100.7",
        )
        await router.start()
        peer = router.create_peer("c")
        offer = await peer.offer()
        assert " 198.51.100.7 " in offer and " 127.0.0.1 " not in offer
    finally:
        await router.close()
        from sfu.aiortc_hooks import set_host_candidates

        set_host_candidates(None, None)


BLUE = (40, 60, 210)


async def test_no_frame_of_the_previous_source_after_a_switch(
    router: Router, decode_errors: DecodeErrors
) -> None:
    # v watches a, then nobody (a is gone), then b: the last frame v got from a must never
    # be shown once b's picture starts (aiortc's receiver holds a frame until a packet of
    # the next one arrives; a browser would have shown it before the switch).
    v = await connect_caller(router, "v", BLUE)
    a = await connect_caller(router, "a", RED)
    b = await connect_caller(router, "b", GREEN)
    for _ in range(3):
        await router.connect("v", "a")
        await v.wait_frames_like(RED, count=5, since=time.monotonic())
        await router.disconnect("v")
        await asyncio.sleep(0.5)  # whatever a sent before is decoded by now
        switched = time.monotonic()
        await router.connect("v", "b")
        await v.wait_frames_like(GREEN, count=5, since=switched)
        assert v.frames_like(RED, since=switched) == 0
        # Straight from one source to another, without a pause: once b's picture came,
        # a's never does.
        await router.connect("v", "a")
        await v.wait_frames_like(RED, count=5, since=time.monotonic())
        switched = time.monotonic()
        await router.connect("v", "b")
        await v.wait_frames_like(GREEN, count=5, since=switched)
        first_green = v.first_like(GREEN, since=switched)
        assert first_green is not None
        assert v.frames_like(RED, since=first_green - 0.001) == 0
    assert decode_errors.count == 0
    for media in (v, a, b):
        await media.close()
