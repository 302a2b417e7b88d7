"""Evidence clips kept as RTP packets and reassembled on demand (sfu.packet_clip.PacketClip)."""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from sfu.packet_clip import PacketClip

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
KEY = b"\x00\x00\x00\x9d\x01\x2a" + b"\x80\x02\xe0\x01"  # frame tag P=0, start code, size
DELTA = b"\x01\x00\x00" + b"d" * 10


def _packet(seq: int, ts: int, payload: bytes, marker: bool, start: bool) -> RtpPacket:
    descriptor = b"\x10" if start else b"\x00"
    return RtpPacket(
        payload_type=96,
        sequence_number=seq,
        timestamp=ts,
        marker=int(marker),
        payload=descriptor + payload,
    )


def test_frames_are_rebuilt_in_sequence_order_up_to_a_missing_packet() -> None:
    clip = PacketClip(seconds=10)
    packets = [
        (_packet(65534, 0, KEY[:5], False, True), True),
        (_packet(0, 0, b"tail", True, False), False),  # arrives before 65535
        (_packet(65535, 0, KEY[5:], False, False), False),  # a late retransmission
        (_packet(1, 3000, DELTA, True, True), False),
        (_packet(3, 6000, DELTA, True, True), False),  # 2 is missing
    ]
    for packet, keyframe in packets:
        clip.add_packet(packet, VP8, keyframe)
    frames = clip.frames()
    assert [f.timestamp for f in frames] == [0, 3000]
    assert frames[0].data == KEY + b"tail" and frames[0].keyframe
    assert frames[1].data == DELTA and not frames[1].keyframe


def test_old_runs_go_once_the_next_covers_the_span_and_frames_are_ignored() -> None:
    clip = PacketClip(seconds=1)
    assert clip.frames() == []
    clip.add_packet(_packet(5, 100, DELTA, True, True), VP8, False)  # before any keyframe
    assert clip.bytes == 0
    clip.add_packet(_packet(6, 0, KEY, True, True), VP8, True)
    clip.add_packet(_packet(7, 45_000, KEY, True, True), VP8, True)
    clip.add_packet(_packet(8, 45_000 + 90_000, DELTA, True, True), VP8, False)
    assert [f.timestamp for f in clip.frames()] == [45_000, 135_000]
    clip.clear()
    assert clip.frames() == [] and clip.bytes == 0
