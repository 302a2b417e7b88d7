"""One keyframe per Next: the partner's request that answers a sequence gap is not relayed.

A switch (or a resync after an unrecoverable loss) makes the partner's receiver see a jump
in sequence numbers; it asks for a keyframe although the new source's keyframe is what it
has just been sent. ``PacketTrack`` absorbs that one request (``GAP_PLI_WINDOW_S``) and
relays every other. The track runs on real feeds; its sender is a stand-in that accepts
every packet, and the clock is the test's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from sfu import packets
from sfu.packet_feed import PacketFeed
from sfu.packets import GAP_PLI_WINDOW_S, PacketTrack
from sfu.rtp_rewrite import vp8_keyframe_start

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


class Out:
    """The partner's sender: takes every packet."""

    ready = True
    payload_type = 96
    ssrc = 4321
    mid = "1"
    reported = True

    def __init__(self) -> None:
        self.sent: list[RtpPacket] = []

    def serialize(self, packet: RtpPacket) -> bytes:
        return packet.serialize()

    def send(self, packet: RtpPacket, data: bytes | None = None) -> bool:
        self.sent.append(packet)
        return True

    def announce(self) -> None:
        pass

    def set_sender_report(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        pass


class Source:
    """A visitor's video feed and the packets it sends."""

    def __init__(self, owner: str, ssrc: int) -> None:
        self.feed = PacketFeed("video", owner)
        self.ssrc, self.seq, self.ts = ssrc, 100, 9000

    def frame(self, keyframe: bool = False) -> None:
        payload = bytes([0x10, 0x00 if keyframe else 0x01]) + bytes(100)
        packet = RtpPacket(96, True, self.seq, self.ts, self.ssrc, payload)
        self.seq, self.ts = self.seq + 1, self.ts + 3000
        self.feed.on_packet(packet, VP8)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    now = [1000.0]
    monkeypatch.setattr(packets.time, "monotonic", lambda: now[0])
    yield now


def _track() -> tuple[PacketTrack, Out]:
    track = PacketTrack("video")
    out = Out()
    track.out = out  # type: ignore[assignment]
    return track, out


def _watching(track: PacketTrack, source: Source) -> None:
    track.switch(source.feed)
    source.frame(keyframe=True)
    source.frame()


def _switched(track: PacketTrack) -> Source:
    """The track forwarded a's packets, then switched to b (whose keyframe is not sent
    yet); returns b."""
    _watching(track, Source("a", 1))
    b = Source("b", 2)
    track.switch(b.feed)
    return b


def _requests(track: PacketTrack) -> tuple[int, int]:
    """(partner requests absorbed, relayed)."""
    return track.gap_requests_absorbed, track.keyframe_requests


def test_the_request_after_a_switchs_keyframe_is_absorbed(clock: list[float]) -> None:
    track, out = _track()
    _switched(track).frame(keyframe=True)
    assert out.sent[-1].sequence_number - out.sent[-2].sequence_number > 1000  # the gap
    clock[0] += 0.2
    track._partner_wants_keyframe()  # the partner's receiver, about the gap
    assert _requests(track) == (1, 0)
    clock[0] += 0.2
    track._partner_wants_keyframe()  # a second request: the partner really needs one
    assert _requests(track) == (1, 1)


def test_a_request_after_the_window_is_relayed(clock: list[float]) -> None:
    track, _ = _track()
    _switched(track).frame(keyframe=True)
    clock[0] += GAP_PLI_WINDOW_S + 0.1
    track._partner_wants_keyframe()
    assert _requests(track) == (0, 1)


def test_the_first_source_has_no_gap_and_requests_are_relayed(clock: list[float]) -> None:
    track, _ = _track()
    _watching(track, Source("a", 1))
    clock[0] += 0.1
    track._partner_wants_keyframe()
    assert _requests(track) == (0, 1)


def test_a_request_before_the_keyframe_is_relayed(clock: list[float]) -> None:
    track, _ = _track()
    _switched(track)
    track._partner_wants_keyframe()  # b's keyframe is not out yet: the partner needs it
    assert _requests(track) == (0, 1)


def test_a_resync_after_unrecoverable_loss_is_a_gap_too(clock: list[float]) -> None:
    track, out = _track()
    a = Source("a", 1)
    _watching(track, a)
    a.feed.discontinuities += 1  # what PacketFeed._unrecoverable counts
    a.frame()  # not a keyframe: dropped, the track waits
    a.frame(keyframe=True)
    assert out.sent[-1].sequence_number - out.sent[-2].sequence_number > 1000
    clock[0] += 0.1
    track._partner_wants_keyframe()
    assert _requests(track) == (1, 0)


def test_a_released_keyframe_after_a_switch_is_a_gap_too(clock: list[float]) -> None:
    track, out = _track()
    _watching(track, Source("a", 1))
    track.hold()
    b = Source("b", 2)
    track.switch(b.feed)
    screened = b.ts
    b.frame(keyframe=True)
    b.frame()
    assert track.release(keyframe=screened)
    assert vp8_keyframe_start(out.sent[-2].payload)  # b's screened keyframe, sent
    clock[0] += 0.1
    track._partner_wants_keyframe()
    assert _requests(track) == (1, 0)
