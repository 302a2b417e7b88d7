"""Pre-encoded media for synthetic callers, made once at start so callers never encode live.

A video clip is a few seconds of a moving synthetic picture (a scrolling texture and a
bouncing box, with the caller's :mod:`~benchmarks.mark` on top), encoded with libvpx the
way a browser encodes a camera: VP8, constant bitrate, real-time settings, one keyframe
(the first frame) and inter frames after it. Callers loop it, and answer a keyframe request
by starting over at frame 0. An audio clip is one second of Opus (20 ms packets) of a quiet
tone, plus a loud beep the sender plays instead when asked.

**Lip-sync marks**: frame 0 (the keyframe) has a white strip along the bottom
(:data:`~benchmarks.mark.FLASH_BAND`), black in every other frame; whenever a caller sends
frame 0 it plays the beep at the same capture time (:mod:`benchmarks.lipsync`), so a
receiver can measure how far apart audio and video are played.

Encoding a 640x480 clip costs roughly a third of a second of CPU per caller on the
development machine; it happens in the worker processes before the first caller starts.
"""

from __future__ import annotations

import fractions
import math
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame

from benchmarks.mark import band_height, draw_flash, draw_mark, flash_height

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020
AUDIO_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME)


@dataclass(frozen=True)
class VideoSpec:
    """What the synthetic camera produces."""

    width: int = 640
    height: int = 480
    fps: int = 30
    kbps: int = 1000
    """Target bitrate (constant-bitrate rate control; the clip's real rate is reported)."""
    seconds: float = 2.0
    """Clip length: the stream repeats it, starting each repetition with a keyframe."""

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 48 or self.width % 2 or self.height % 2:
            raise ValueError(f"video size must be even and at least 64x48, not {self.label}")
        if not 1 <= self.fps <= 60:
            raise ValueError(f"fps must be within 1..60, not {self.fps}")
        if not 50 <= self.kbps <= 20_000:
            raise ValueError(f"video bitrate must be within 50..20000 kbps, not {self.kbps}")
        if self.seconds <= 0:
            raise ValueError("clip length must be positive")

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}@{self.fps}"

    @property
    def frame_count(self) -> int:
        return max(1, round(self.seconds * self.fps))


@dataclass(frozen=True)
class VideoClip:
    spec: VideoSpec
    mark: int
    frames: list[bytes]
    """Encoded VP8 frames; ``frames[0]`` is the only keyframe."""

    @property
    def kbps(self) -> float:
        """The clip's real average bitrate."""
        return sum(len(f) for f in self.frames) * 8 / self.spec.seconds / 1000


@dataclass(frozen=True)
class AudioClip:
    packets: list[bytes]
    """Encoded Opus packets of :data:`AUDIO_PTIME` each (the quiet tone)."""
    beep: list[bytes] = field(default_factory=list)
    """The beep's packets, played in place of as many quiet ones (a lip-sync mark)."""
    beep_delay: int = 0
    """Samples from the RTP timestamp of the beep's first packet to the beep's first loud
    decoded sample (the codec's delay), measured by decoding the clip at start."""

    @property
    def kbps(self) -> float:
        return sum(len(p) for p in self.packets) * 8 / (len(self.packets) * AUDIO_PTIME) / 1000


def _texture(height: int, width: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A blocky random texture, twice the picture's size so it can scroll."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, size=(height // 4 + 1, width // 4 + 1), dtype=np.uint8)
    big = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))
    return np.ascontiguousarray(big[: 2 * height, : 2 * width])


def synthetic_luma(
    spec: VideoSpec, mark: int, index: int, texture: np.ndarray[Any, np.dtype[np.uint8]]
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Frame ``index`` of the picture: texture scrolling diagonally, a bouncing white box,
    the mark band on top and the lip-sync strip at the bottom (white in frame 0 only)."""
    h, w = spec.height, spec.width
    dy, dx = (index * 2) % h, (index * 3) % w
    luma = np.array(texture[dy : dy + h, dx : dx + w], dtype=np.uint8)
    band = band_height(h)
    box = max(8, h // 6)
    span_x, span_y = w - box, max(1, h - band - flash_height(h) - box)
    phase = index / max(1, spec.fps)
    x = int((math.sin(phase * 1.7) * 0.5 + 0.5) * span_x)
    y = band + int((math.sin(phase * 2.3 + 1.0) * 0.5 + 0.5) * span_y)
    luma[y : y + box, x : x + box] = 235
    draw_mark(luma, mark)
    draw_flash(luma, index == 0)
    return luma


def encode_video_clip(spec: VideoSpec, mark: int, tint: tuple[int, int] | None = None) -> VideoClip:
    """Encode the clip of the caller whose mark is ``mark`` (CPU-bound; run it once).
    ``tint``: the (U, V) chroma of the whole picture (offenders); default grey."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = spec.width, spec.height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, spec.fps)
    codec.framerate = fractions.Fraction(spec.fps, 1)
    bitrate = spec.kbps * 1000
    codec.bit_rate = bitrate
    codec.gop_size = 10 * spec.frame_count  # no keyframe but the first
    codec.thread_count = 1
    # Real-time constant bitrate, as aiortc's (and a browser's) VP8 encoder runs.
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
        "undershoot-pct": "100",
        "overshoot-pct": "15",
        "static-thresh": "0",
    }
    texture = _texture(spec.height, spec.width, seed=mark)
    u, v = tint or (128, 128)
    chroma_u = np.full((spec.height // 2, spec.width // 2), u, dtype=np.uint8)
    chroma_v = np.full((spec.height // 2, spec.width // 2), v, dtype=np.uint8)
    frames: list[bytes] = []
    for index in range(spec.frame_count):
        luma = synthetic_luma(spec, mark, index, texture)
        frame = av.VideoFrame(spec.width, spec.height, "yuv420p")
        for plane, data in zip(frame.planes, (luma, chroma_u, chroma_v), strict=True):
            _fill_plane(plane, data)
        frame.pts = index
        frame.time_base = codec.time_base
        frame.pict_type = av.video.frame.PictureType.I if index == 0 else 0
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    if len(frames) != spec.frame_count:
        raise RuntimeError(f"libvpx returned {len(frames)} frames for {spec.frame_count}")
    return VideoClip(spec=spec, mark=mark, frames=frames)


def _fill_plane(plane: Any, data: np.ndarray[Any, np.dtype[np.uint8]]) -> None:
    """Copy ``data`` into a PyAV plane whose rows may be padded (``line_size`` >= width)."""
    rows, columns = data.shape
    if plane.line_size == columns:
        plane.update(np.ascontiguousarray(data).tobytes())
        return
    padded = np.zeros((rows, plane.line_size), dtype=np.uint8)
    padded[:, :columns] = data
    plane.update(padded.tobytes())


QUIET = 400
"""Amplitude of the clip's tone (16-bit samples): far below :data:`BEEP_LEVEL`."""
BEEP = 12_000
"""Amplitude of the beep."""
BEEP_LEVEL = 4_000
"""A decoded sample louder than this is the beep."""
BEEP_FRAMES = 2
"""The beep's length in :data:`AUDIO_PTIME` frames (the codec's delay spreads it over one
packet more)."""


def _opus_frame(index: int, hertz: float, amplitude: int) -> av.AudioFrame:
    t = (np.arange(AUDIO_SAMPLES) + index * AUDIO_SAMPLES) / AUDIO_RATE
    pcm = (np.sin(2 * math.pi * hertz * t) * amplitude).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = index * AUDIO_SAMPLES
    frame.time_base = fractions.Fraction(1, AUDIO_RATE)
    return frame


def encode_audio_clip(seconds: float = 1.0, kbps: int = 32) -> AudioClip:
    """``seconds`` of a quiet 440 Hz tone as mono Opus packets of 20 ms, then the beep
    (880 Hz, loud, :data:`BEEP_FRAMES` frames) encoded right after it."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = kbps * 1000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    codec.options = {"application": "voip", "frame_duration": "20"}
    count = max(1, round(seconds / AUDIO_PTIME))
    packets: list[bytes] = []
    for index in range(count + BEEP_FRAMES + 1):
        loud = count <= index < count + BEEP_FRAMES
        frame = _opus_frame(index, 880 if loud else 440, BEEP if loud else QUIET)
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    if len(packets) < count + BEEP_FRAMES + 1:
        raise RuntimeError(f"libopus returned {len(packets)} packets")
    # The encoder's delay puts the beep's end into the packet after its frames.
    beep = packets[count : count + BEEP_FRAMES + 1]
    quiet = packets[:count]
    return AudioClip(packets=quiet, beep=beep, beep_delay=_beep_delay(quiet, beep))


def _beep_delay(quiet: list[bytes], beep: list[bytes]) -> int:
    """Decode quiet packets then the beep as a receiver does (aiortc's Opus decoder) and
    return the beep's first loud sample's distance from its first packet's timestamp."""
    decoder = OpusDecoder()
    stream = quiet[-5:] + beep
    for index, data in enumerate(stream):
        for frame in decoder.decode(JitterFrame(data=data, timestamp=index * AUDIO_SAMPLES)):
            onset = loud_onset(frame)
            if onset is not None and frame.pts is not None:
                return frame.pts + onset - (len(stream) - len(beep)) * AUDIO_SAMPLES
    raise RuntimeError("the beep is not audible after decoding")


def loud_onset(frame: Any) -> int | None:
    """Index (in samples per channel) of the first sample of a decoded ``av.AudioFrame``
    (packed s16, what aiortc's decoder returns) louder than :data:`BEEP_LEVEL`."""
    samples = frame.to_ndarray().reshape(-1)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > BEEP_LEVEL)
    if loud.size == 0:
        return None
    return int(loud[0]) // max(1, len(frame.layout.channels))
