"""The pure RTP bookkeeping of packet forwarding (sfu.rtp_rewrite)."""

from __future__ import annotations

import pytest
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket

from sfu.rtp_rewrite import (
    LossTracker,
    PacketHistory,
    StreamRewriter,
    seq_newer,
    vp8_frame_start,
    vp8_keyframe_start,
)

# --- VP8 payload descriptor ---------------------------------------------------------------


def _payload(descriptor: bytes, first_byte: int) -> bytes:
    return descriptor + bytes([first_byte]) + b"\x00\x00\x9d\x01\x2a"


@pytest.mark.parametrize(
    "descriptor",
    [
        b"\x10",  # S, PID 0, no extensions
        b"\x90\x80\x05",  # X, I with a 7-bit picture id
        b"\x90\x80\x81\x05",  # X, I with a 15-bit picture id (M)
        b"\x90\xe0\x81\x05\x07\x40",  # X, I (15 bit), L, T
        b"\x90\x10\x20",  # X, K only
    ],
)
def test_keyframe_start_read_past_each_descriptor_shape(descriptor: bytes) -> None:
    assert vp8_keyframe_start(_payload(descriptor, 0x10))  # P bit 0: keyframe
    assert not vp8_keyframe_start(_payload(descriptor, 0x11))  # P bit 1: interframe
    assert vp8_frame_start(_payload(descriptor, 0x11))


def test_continuation_packets_and_truncated_descriptors_are_not_keyframe_starts() -> None:
    assert not vp8_keyframe_start(b"\x00\x10\x00\x00")  # S not set: continuation
    assert not vp8_keyframe_start(b"\x11\x10\x00\x00")  # partition 1, not 0
    assert not vp8_keyframe_start(b"\x90\x80")  # picture id missing
    assert not vp8_keyframe_start(b"\x10")  # no VP8 payload behind the descriptor
    assert not vp8_keyframe_start(b"")
    assert not vp8_frame_start(b"")


def test_descriptor_reading_matches_aiortcs_own_packetiser() -> None:
    import av
    import numpy as np

    encoder = Vp8Encoder()
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    starts = []
    for i in range(3):
        frame.pts, frame.time_base = i * 3000, __import__("fractions").Fraction(1, 90_000)
        payloads, _ts = encoder.encode(frame, force_keyframe=(i == 0))
        starts.append([vp8_keyframe_start(p) for p in payloads])
    assert starts[0][0] and not any(starts[0][1:])
    assert not any(starts[1]) and not any(starts[2])


# --- sequence numbers and timestamps --------------------------------------------------------


def test_seq_newer_wraps() -> None:
    assert seq_newer(1, 0) and seq_newer(0, 65535) and seq_newer(5, 65530)
    assert not seq_newer(0, 1) and not seq_newer(65535, 0) and not seq_newer(7, 7)


def test_one_source_keeps_a_fixed_offset_and_wraps() -> None:
    rw = StreamRewriter(ts_step=3000, first_seq=65534, first_ts=(1 << 32) - 1000)
    rw.start_source()
    assert rw.rewrite(100, 5000) == (65534, (1 << 32) - 1000)
    assert rw.rewrite(101, 5000) == (65535, (1 << 32) - 1000)
    assert rw.rewrite(102, 8000) == (0, 2000)  # both wrap
    assert rw.rewrite(101, 5000) == (65535, (1 << 32) - 1000)  # a retransmission keeps its place
    assert rw.last_seq == 0


def test_switch_continues_sequence_and_timestamps() -> None:
    rw = StreamRewriter(ts_step=3000, first_seq=10, first_ts=0)
    rw.start_source()
    for i in range(5):
        rw.rewrite(40_000 + i, 123_456 + 3000 * (i // 2))
    assert rw.last_seq == 14
    rw.start_source()  # Next: a new source with unrelated numbering
    assert rw.rewrite(65_530, 7) == (15, 3000 * 2 + 3000)
    assert rw.rewrite(65_535, 7) == (20, 9000)
    assert rw.rewrite(0, 3007) == (21, 12000)  # source wraps, output continues


def test_packets_from_before_the_switch_are_refused() -> None:
    rw = StreamRewriter(ts_step=960, first_seq=0, first_ts=0)
    rw.start_source()
    rw.rewrite(500, 0)
    rw.rewrite(501, 960)
    rw.start_source()
    rw.rewrite(9000, 48_000)
    assert rw.rewrite(8999, 47_040) is None  # older than the first forwarded packet
    assert rw.rewrite(9001, 48_960) == (3, 960 + 960 + 960)


def test_timestamp_and_source_seq_translate_with_the_same_offsets() -> None:
    rw = StreamRewriter(ts_step=3000, first_seq=1000, first_ts=50)
    assert rw.timestamp(0) is None and rw.source_seq(1000) is None
    rw.start_source()
    rw.rewrite(65_000, (1 << 32) - 10)
    assert rw.timestamp((1 << 32) - 10) == 50
    assert rw.timestamp(20) == 80  # wraps like the packets
    assert rw.source_seq(1000) == 65_000
    assert rw.source_seq(1600) == (65_000 + 600) % 65536
    assert rw.source_seq(999) is None  # before this source


# --- history and loss ------------------------------------------------------------------------


def test_history_is_bounded_and_keyed_by_exact_sequence_number() -> None:
    history: PacketHistory[str] = PacketHistory(4)
    for seq in range(65534, 65534 + 6):
        history.put(seq % 65536, f"p{seq % 65536}")
    assert history.get(65534) is None and history.get(65535) is None  # overwritten
    assert history.get(0) == "p0" and history.get(3) == "p3"
    assert history.get(4) is None
    with pytest.raises(ValueError):
        PacketHistory(0)


def test_loss_tracker_nacks_gaps_retries_then_gives_up() -> None:
    loss = LossTracker(retry_s=0.05, tries=3, limit=16)
    assert loss.received(65534, 0.0) == ([], False)
    assert loss.received(1, 0.0) == ([65535, 0], False)  # gap across the wrap
    assert loss.due(0.01) == ([], False)  # too soon to ask again
    assert loss.due(0.06) == ([65535, 0], False)
    assert loss.received(0, 0.07) == ([], False)  # a retransmission arrived
    assert loss.recovered == 1 and loss.missing == [65535]
    assert loss.due(0.12) == ([65535], False)  # third NACK
    assert loss.due(0.18) == ([], True)  # given up: caller asks for a keyframe
    assert loss.missing == [] and loss.abandoned == 1


def test_loss_tracker_refuses_gaps_too_long_to_nack() -> None:
    loss = LossTracker(limit=8)
    loss.received(100, 0.0)
    assert loss.received(120, 0.0) == ([], True)
    assert loss.missing == []
    loss.received(121, 0.0)
    new, gave_up = loss.received(127, 0.0)
    assert new == [122, 123, 124, 125, 126] and not gave_up


def test_loss_tracker_keeps_at_most_limit_missing() -> None:
    loss = LossTracker(limit=4)
    loss.received(0, 0.0)
    loss.received(4, 0.0)  # 1, 2, 3 missing
    new, gave_up = loss.received(7, 0.0)  # 5, 6 missing: 5 in all, one too many
    assert new == [5, 6] and gave_up
    assert loss.missing == [2, 3, 5, 6]


def test_rtp_packet_fields_used_by_forwarding() -> None:
    # The forwarder builds packets with these keyword arguments and extension fields.
    packet = RtpPacket(payload_type=96, marker=1, sequence_number=1, timestamp=2, ssrc=3)
    packet.extensions.mid = "0"
    packet.extensions.abs_send_time = 1
    packet.extensions.audio_level = None
    assert packet.payload == b""


def test_compact_stream_hides_gaps_and_refuses_old_packets() -> None:
    rw = StreamRewriter(ts_step=960, first_seq=65535, first_ts=0, compact=True)
    rw.start_source()
    assert rw.rewrite(10, 1000) == (65535, 0)
    assert rw.rewrite(13, 3880) == (0, 2880)  # 11 and 12 lost: no gap, timestamp kept
    assert rw.rewrite(12, 2920) is None  # late: would go backwards
    assert rw.rewrite(13, 3880) is None  # duplicate
    assert rw.rewrite(14, 4840) == (1, 3840)
    assert rw.source_seq(1) is None  # audio is not NACKed
    rw.start_source()
    assert rw.rewrite(500, 0) == (2, 3840 + 960)


def test_skip_leaves_a_gap_at_a_new_run() -> None:
    rw = StreamRewriter(ts_step=3000, first_seq=100, first_ts=0)
    rw.start_source()
    rw.rewrite(7, 0)
    rw.start_source(skip=1024)  # an unrecoverable loss: the receiver must drop its state
    assert rw.rewrite(20, 9000) == (100 + 1 + 1024, 3000)


def test_abs_send_time_matches_aiortcs_clock() -> None:
    import time

    from aiortc import clock

    from sfu.rtp_rewrite import abs_send_time

    ours = abs_send_time(time.time())
    theirs = (clock.current_ntp_time() >> 14) & 0xFFFFFF
    # Same 6.18 fixed-point clock (1/262144 s units, wrapping every 64 s): a few ms apart.
    assert min((ours - theirs) % (1 << 24), (theirs - ours) % (1 << 24)) < 2600
    assert abs_send_time(0.0) == (2_208_988_800 << 18) & 0xFFFFFF


def test_a_source_after_another_numbering_continues_after_it() -> None:
    """Packets mode after the sender's own packets (a pipe source's frames): the next source
    starts after the sender's last packet, with the gap."""
    rewriter = StreamRewriter(3000, first_seq=100, first_ts=1000)
    assert rewriter.rewrite(7, 0) == (100, 1000)
    rewriter.continue_after(5000, 90_000)
    rewriter.start_source(skip=1024)
    assert rewriter.rewrite(300, 50) == (5000 + 1 + 1024, 93_000)
