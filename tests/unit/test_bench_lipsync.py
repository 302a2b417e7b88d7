"""The bench's lip-sync marks: made at the sender, found at the receiver, paired and placed
on the senders' clock through Sender Reports (:mod:`benchmarks.lipsync`)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from benchmarks.clip import (
    AUDIO_SAMPLES,
    BEEP_LEVEL,
    VideoSpec,
    encode_audio_clip,
    encode_video_clip,
    loud_onset,
)
from benchmarks.lipsync import MarkReader, SyncLog, lip_sync, wall_time
from benchmarks.mark import draw_flash, luma_of, read_flash
from benchmarks.replay import ReplayAudioTrack, ReplayVideoTrack

NTP0 = 3_900_000_000.0
"""A sender's wall clock in NTP seconds at the start of the synthetic logs."""


def _stereo(level: int, onset: int | None = None) -> av.AudioFrame:
    """A packed s16 stereo frame (what aiortc's Opus decoder returns), quiet, or loud from
    sample ``onset`` on."""
    samples = np.full(AUDIO_SAMPLES * 2, 100, dtype=np.int16)
    if onset is not None:
        samples[onset * 2 :] = level
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = 48_000
    return frame


def test_video_marks_are_white_strips_after_black_ones_with_the_rtp_timestamp() -> None:
    log = SyncLog()
    reader = MarkReader(log, beep_delay=0)
    origin = 2**32 - 1000  # the receiver's first timestamp, just before a wrap

    def start() -> int:
        return origin

    # A receiver that joins during a white strip does not take it for a mark.
    for at, (flash, pts) in enumerate(
        [(True, 0), (False, 3000), (True, 6000), (True, 9000), (None, 12000), (False, 15000),
         (True, 18000)]
    ):  # fmt: skip
        reader.video(flash, pts, start, float(at))
    assert list(log.video_at) == [2.0, 6.0]
    assert list(log.video_rtp) == [(origin + 6000) % 2**32, (origin + 18000) % 2**32]


def test_audio_marks_are_loud_onsets_less_the_codecs_delay() -> None:
    log = SyncLog()
    reader = MarkReader(log, beep_delay=300)
    frames = [_stereo(0), _stereo(9000, onset=500), _stereo(9000, onset=0), _stereo(0)]
    for index, frame in enumerate(frames):
        frame.pts = index * AUDIO_SAMPLES
        reader.audio(frame, lambda: 10_000, float(index))
    # One mark (the beep's second frame is not a new one), at its first loud sample.
    assert list(log.audio_rtp) == [10_000 + AUDIO_SAMPLES + 500 - 300]
    assert log.audio_at[0] == pytest.approx(1.0 + 200 / 48_000)
    assert loud_onset(_stereo(BEEP_LEVEL)) is None  # at the threshold is not loud


def test_wall_time_uses_the_latest_report_received_before_the_mark() -> None:
    reports = [(1.0, NTP0, 1000), (3.0, NTP0 + 7.0, 1000 + 2 * 90_000)]
    assert wall_time(reports, "video", 1000 + 45_000, at=2.0) == NTP0 + 0.5
    assert wall_time(reports, "video", 1000 + 45_000, at=3.5) == NTP0 + 5.5
    # Across the 32-bit wrap.
    wrapped = [(1.0, NTP0, 2**32 - 9000)]
    assert wall_time(wrapped, "video", 9000, at=2.0) == pytest.approx(NTP0 + 0.2)
    # No report before the mark: no wall time.
    assert wall_time(reports, "video", 1000, at=0.5) is None


def _log(audio_shift_s: float) -> SyncLog:
    """A receiver's log: video and audio marks every 2 s; the audio mark placed
    ``audio_shift_s`` after the video one on the sender's clock, and arriving 30 ms later."""
    log = SyncLog()
    log.reports["video"].append((0.5, NTP0, 500_000))
    log.reports["audio"].append((0.6, NTP0 + 10.0, 7_000))
    for k in range(3):
        wall = NTP0 + 1.0 + 2 * k
        log.video_at.append(1.1 + 2 * k)
        log.video_rtp.append(500_000 + round((wall - NTP0) * 90_000))
        log.audio_at.append(1.13 + 2 * k)
        log.audio_rtp.append(7_000 + round((wall + audio_shift_s - NTP0 - 10.0) * 48_000))
    return log


def test_offsets_are_measured_on_the_senders_clock() -> None:
    sync = lip_sync(_log(audio_shift_s=0.025), match_starts=[0.0], start=0.0, end=10.0)
    assert sync.offsets_ms == pytest.approx([25.0] * 3, abs=0.05)
    assert sync.arrival_offsets_ms == pytest.approx([30.0] * 3)
    assert sync.unpaired == 0
    # Only marks inside the window count.
    assert len(lip_sync(_log(0.0), [0.0], start=2.0, end=10.0).offsets_ms) == 2


def test_marks_pair_only_within_one_match() -> None:
    log = _log(audio_shift_s=0.0)
    # A match started between the first video mark and its audio mark.
    sync = lip_sync(log, match_starts=[0.0, 1.12], start=0.0, end=10.0)
    assert len(sync.offsets_ms) == 2 and sync.unpaired == 1
    # Two flashes in quick succession and one beep: the beep pairs with the nearer flash
    # only, the other flash stays unpaired.
    log = _log(audio_shift_s=0.0)
    log.video_at.insert(1, log.video_at[0] + 0.3)
    log.video_rtp.insert(1, log.video_rtp[0] + 27_000)
    sync = lip_sync(log, [0.0], 0.0, 10.0)
    assert sync.offsets_ms == pytest.approx([0.0] * 3, abs=0.05) and sync.unpaired == 1
    # Audio marks farther than PAIR_S from every video mark do not pair.
    log.audio_at = log.audio_at.__class__("d", [t + 0.5 for t in log.audio_at])
    assert lip_sync(log, [0.0], 0.0, 10.0).unpaired == 3


async def test_the_sender_beeps_at_the_audio_slot_nearest_its_video_mark() -> None:
    clip = encode_audio_clip()
    now = [0.0]
    track = ReplayAudioTrack(clip, clock=lambda: now[0])
    track.beep_at(0.105)
    sent = []
    for slot in range(12):
        now[0] = slot * 0.02
        sent.append(bytes(await track.recv()))
    # Slots are due every 20 ms from 0: the one at 0.10 s is nearest to 0.105.
    assert sent[5:8] == clip.beep
    assert sent[:5] == clip.packets[:5] and sent[8:] == clip.packets[8:12]
    assert track.mark_offsets == pytest.approx([-0.005])
    track.stop()


async def test_the_video_track_announces_each_flash_frame_when_it_is_due() -> None:
    clip = encode_video_clip(VideoSpec(width=96, height=72, fps=10, seconds=0.3), mark=3)
    now = [0.0]
    marks: list[float] = []
    track = ReplayVideoTrack(clip, clock=lambda: now[0], on_mark=marks.append)
    for slot in range(5):
        now[0] = slot * 0.1
        if slot == 4:
            track.request_keyframe()  # as on a PLI: frame 0 again, a mark again
        await track.recv()
    assert marks == pytest.approx([0.0, 0.3, 0.4])
    track.stop()


def test_the_clip_carries_the_marks_through_the_codecs() -> None:
    clip = encode_video_clip(VideoSpec(width=160, height=120, seconds=0.5), mark=9)
    decoder = av.CodecContext.create("libvpx", "r")
    flashes = [
        read_flash(luma_of(frame))
        for data in clip.frames
        for frame in decoder.decode(av.Packet(data))
    ]
    assert flashes == [True] + [False] * (len(clip.frames) - 1)
    audio = encode_audio_clip()
    assert audio.beep and 0 < audio.beep_delay < AUDIO_SAMPLES  # Opus's few ms of delay
    luma = np.full((120, 160), 128, dtype=np.uint8)
    assert read_flash(luma) is None  # grey is neither
    draw_flash(luma, True)
    assert read_flash(luma) is True
