"""The caller mark survives VP8 and never reads as a wrong caller."""

from __future__ import annotations

import av
import numpy as np
import pytest

from benchmarks.clip import VideoSpec, encode_video_clip
from benchmarks.mark import MAX_VALUE, draw_mark, luma_of, mark_bits, read_mark


@pytest.mark.parametrize("value", [0, 1, 2, 3, 255, 256, 4097, 31337, MAX_VALUE])
@pytest.mark.parametrize(("width", "height"), [(640, 480), (320, 240), (160, 120), (96, 64)])
def test_round_trip_on_a_clean_picture(value: int, width: int, height: int) -> None:
    luma = np.full((height, width), 128, dtype=np.uint8)
    draw_mark(luma, value)
    assert read_mark(luma) == value


def test_every_index_has_its_own_mark() -> None:
    words = {tuple(mark_bits(v)) for v in range(4096)}
    assert len(words) == 4096


@pytest.mark.parametrize("level", [0, 16, 128, 235, 255])
def test_flat_pictures_are_not_marks(level: int) -> None:
    assert read_mark(np.full((240, 320), level, dtype=np.uint8)) is None


def test_noise_and_damage_are_not_read_as_another_caller() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        noise = rng.integers(0, 256, size=(120, 160), dtype=np.uint8)
        assert read_mark(noise) is None
    luma = np.full((240, 320), 128, dtype=np.uint8)
    draw_mark(luma, 1234)
    # Flip one cell (a corrupt frame): the check catches it.
    luma[:24, :40] = 255 - luma[:24, :40]
    assert read_mark(luma) is None
    # Half a cell grey (a frame decoded from missing references): unknown, not a bit.
    draw_mark(luma, 1234)
    luma[:24, :40] = 128
    assert read_mark(luma) is None


def test_out_of_range_values_and_tiny_pictures_are_refused() -> None:
    with pytest.raises(ValueError):
        mark_bits(MAX_VALUE + 1)
    with pytest.raises(ValueError):
        mark_bits(-1)
    with pytest.raises(ValueError):
        draw_mark(np.zeros((10, 10), dtype=np.uint8), 1)
    assert read_mark(np.zeros((10, 10), dtype=np.uint8)) is None


@pytest.mark.parametrize(
    "spec",
    [VideoSpec(640, 480, 30, 150, seconds=1.0), VideoSpec(160, 120, 15, 50, seconds=1.0)],
    ids=["640x480-at-150kbps", "160x120-at-50kbps"],
)
def test_mark_survives_low_bitrate_vp8(spec: VideoSpec) -> None:
    clip = encode_video_clip(spec, mark=40_000)
    decoder = av.CodecContext.create("libvpx", "r")
    marks = [
        read_mark(luma_of(frame))
        for data in clip.frames
        for frame in decoder.decode(av.Packet(data))
    ]
    assert len(marks) == spec.frame_count
    assert marks == [40_000] * spec.frame_count
