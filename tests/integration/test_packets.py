"""Packet forwarding (``forwarding = "packets"``) in an in-process SFU, real aiortc callers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfu import Router, SfuSettings
from sfu.packets import PacketFeed, PacketTrack
from tests.support.caller import CallerMedia, DecodeErrors
from tests.support.inproc import connect_caller

RED, GREEN, BLUE = (210, 40, 40), (40, 200, 60), (40, 60, 210)


@pytest.fixture
async def router(loopback_only: None) -> AsyncIterator[Router]:
    router = Router(SfuSettings(host_addresses=["127.0.0.1"], forwarding="packets"))
    await router.start()
    yield router
    await router.close()


async def _pair(router: Router) -> tuple[CallerMedia, CallerMedia]:
    a = await connect_caller(router, "a", RED)
    b = await connect_caller(router, "b", GREEN)
    router.link("a", "b")
    await a.wait_frames_like(GREEN, count=5)
    await b.wait_frames_like(RED, count=5)
    return a, b


def _transceiver(media: CallerMedia, kind: str) -> Any:
    assert media.pc is not None
    return next(t for t in media.pc.getTransceivers() if t.kind == kind)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_callers_see_each_other_and_hear_audio(
    router: Router, decode_errors: DecodeErrors
) -> None:
    a, b = await _pair(router)
    await a.wait_frames_like(GREEN, count=30)
    await b.wait_frames_like(RED, count=30)
    assert a.frames_like(RED) == 0 and b.frames_like(GREEN) == 0
    await _until(lambda: a.received.audio_frames > 20 and b.received.audio_frames > 20)
    assert decode_errors.count == 0
    feed = router.peers["a"].feeds["video"]
    track = router.peers["b"].outbound["video"]
    assert isinstance(feed, PacketFeed) and isinstance(track, PacketTrack)
    # Packets went out one by one; aiortc's sender packetised nothing itself.
    assert track.packets > 30 and feed.keyframes >= 1
    assert _transceiver(b, "video").receiver.getSynchronizationSources()
    stats = await router.peers["b"].pc.getStats()
    sent = [s for s in stats.values() if s.type == "outbound-rtp" and s.kind == "video"]
    assert sent and sent[0].packetsSent >= track.packets - 5
    # No frame was reassembled at the SFU: nobody asked for one.
    assert feed.gop == []
    for media in (a, b):
        await media.close()


async def test_next_switches_partner_without_renegotiation(
    router: Router, decode_errors: DecodeErrors
) -> None:
    v = await connect_caller(router, "v", BLUE)
    a = await connect_caller(router, "a", RED)
    b = await connect_caller(router, "b", GREEN)
    assert v.pc is not None
    sdp = v.pc.remoteDescription.sdp
    for _ in range(2):
        await router.connect("v", "a")
        await v.wait_frames_like(RED, count=5, since=time.monotonic())
        switched = time.monotonic()
        await router.connect("v", "b")
        await v.wait_frames_like(GREEN, count=10, since=switched)
        first_green = v.first_like(GREEN, since=switched)
        assert first_green is not None
        assert v.frames_like(RED, since=first_green + 0.001) == 0
    assert v.pc.remoteDescription.sdp == sdp  # no new offer
    track = router.peers["v"].outbound["video"]
    assert isinstance(track, PacketTrack) and track.switches >= 4
    assert decode_errors.count == 0
    for media in (v, a, b):
        await media.close()


async def test_tap_decodes_the_visitors_own_keyframe(router: Router) -> None:
    a, b = await _pair(router)
    source = router.peers["a"].feeds["video"]
    keyframes = source.keyframes
    frame = await router.tap("a", timeout=2)
    assert frame is not None
    assert source.keyframes > keyframes  # requested, then decoded
    _blue, green, red = frame.reshape(-1, 3).mean(axis=0)
    assert red > 150 and green < 100
    screened = await router.screen("b", timeout=2)
    assert screened is not None
    picture, timestamp = screened
    _blue, green, red = picture.reshape(-1, 3).mean(axis=0)
    assert green > 150 and red < 100 and timestamp is not None
    for media in (a, b):
        await media.close()


async def test_partner_nack_is_answered_from_history(router: Router) -> None:
    a, b = await _pair(router)
    track = router.peers["b"].outbound["video"]
    assert isinstance(track, PacketTrack)
    await _until(lambda: track.rewriter.last_seq is not None)
    last = track.rewriter.last_seq
    assert last is not None
    receiver = _transceiver(b, "video").receiver
    ssrc = receiver.getSynchronizationSources()[0].source
    before = track.retransmissions
    await receiver._send_rtcp_nack(ssrc, [(last - 2) % 65536, (last - 1) % 65536])
    await _until(lambda: track.retransmissions >= before + 2)
    for media in (a, b):
        await media.close()


async def test_sender_reports_carry_the_translated_timestamps(router: Router) -> None:
    a, b = await _pair(router)
    feed = router.peers["a"].feeds["video"]
    track = router.peers["b"].outbound["video"]
    assert isinstance(feed, PacketFeed) and isinstance(track, PacketTrack)
    await _until(lambda: feed.sender_report is not None, timeout=8)
    sender = router.peers["b"].pc.getTransceivers()[1].sender

    def translated() -> bool:
        assert feed.sender_report is not None
        ntp, rtp = feed.sender_report
        return bool(
            sender._RTCRtpSender__ntp_timestamp == ntp
            and sender._RTCRtpSender__rtp_timestamp == track.rewriter.timestamp(rtp)
        )

    # b's Sender Reports map a's capture clock (NTP) to the timestamps b receives.
    await _until(translated)
    for media in (a, b):
        await media.close()
