"""Evidence clips (``sfu/clip.py``): the last seconds of encoded video, bounded in memory,
muxed into WebM without transcoding, decodable from the first frame."""

from __future__ import annotations

import fractions
import io

import av
import numpy as np
import pytest

from sfu.clip import VIDEO_CLOCK, ClipBuffer, mux_webm, vp8_size
from sfu.passthrough import EncodedFrame, is_vp8_keyframe

STEP = VIDEO_CLOCK // 30


def _encoded(count: int, keyframe_every: int, shade: int = 90) -> list[EncodedFrame]:
    """``count`` real VP8 frames (160x120, 30 fps), a keyframe every ``keyframe_every``."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {"deadline": "realtime", "g": str(keyframe_every)}
    frames: list[EncodedFrame] = []
    for n in range(count):
        picture = np.full((120, 160, 3), (shade + n) % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = n
        if n % keyframe_every == 0:
            frame.pict_type = av.video.frame.PictureType.I
        for packet in encoder.encode(frame):
            data = bytes(packet)
            frames.append(EncodedFrame(data, int(packet.pts) * STEP, is_vp8_keyframe(data)))
    return frames


def test_buffer_keeps_whole_picture_groups_covering_the_span() -> None:
    frames = _encoded(150, keyframe_every=30)  # 5 s, a keyframe every second
    clip = ClipBuffer(seconds=2.0)
    for frame in frames:
        clip.add(frame)
    kept = clip.frames()
    assert kept[0].keyframe
    span = kept[-1].timestamp - kept[0].timestamp
    assert 2 * VIDEO_CLOCK <= span < 3 * VIDEO_CLOCK  # >= 2 s, less than one group more
    assert clip.bytes == sum(len(f.data) for f in kept)


def test_buffer_never_exceeds_its_byte_budget() -> None:
    frames = _encoded(90, keyframe_every=15)
    budget = sum(len(f.data) for f in frames) // 4
    clip = ClipBuffer(seconds=30.0, max_bytes=budget)
    for frame in frames:
        clip.add(frame)
        assert clip.bytes <= budget
    assert clip.frames() and clip.frames()[0].keyframe


def test_frames_before_the_first_keyframe_are_not_kept() -> None:
    frames = _encoded(40, keyframe_every=30)
    clip = ClipBuffer(seconds=4.0)
    for frame in frames[1:30]:  # deltas only: nothing decodable
        clip.add(frame)
    assert clip.frames() == [] and clip.bytes == 0


def test_webm_decodes_from_its_first_frame() -> None:
    frames = _encoded(60, keyframe_every=30)
    assert vp8_size(frames[0].data) == (160, 120)
    data = mux_webm(frames)
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML (Matroska/WebM)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("vp8", "libvpx")
        decoded = list(container.decode(video=0))
    assert len(decoded) == len(frames)
    assert (decoded[0].width, decoded[0].height) == (160, 120)


def test_a_clip_must_start_at_a_keyframe() -> None:
    frames = _encoded(5, keyframe_every=30)
    with pytest.raises(ValueError, match="keyframe"):
        mux_webm(frames[1:])
