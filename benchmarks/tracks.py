"""The media a synthetic visitor sends: a solid-colour picture (or any RGB picture) at
``FPS`` frames per second and a 440 Hz tone, live-encoded by aiortc; and how a received
frame is told to be of a colour.

Shared by the load generators in ``benchmarks`` and the test callers in ``tests/support``
(tests may import benchmarks; production packages and benchmarks never import tests).
Frames are paced on the monotonic clock from the first ``recv``.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamTrack

WIDTH, HEIGHT = 160, 120
"""The solid-colour picture's size (small: cheap to encode on shared cores)."""
FPS = 15
COLOUR_TOLERANCE = 40.0
"""How far (per channel, 0-255) a decoded frame's mean colour may be from the colour sent:
VP8 shifts a solid colour a little; the colours the tests and benches use are far apart."""

_VIDEO_CLOCK = 90_000
_AUDIO_RATE = 48_000


def colour_like(mean: tuple[float, float, float], rgb: tuple[int, int, int]) -> bool:
    """Whether a decoded frame's mean colour ``mean`` is the solid colour ``rgb``."""
    return max(abs(m - c) for m, c in zip(mean, rgb, strict=True)) < COLOUR_TOLERANCE


class ColorTrack(MediaStreamTrack):
    """Solid-colour video at ``fps`` (default ``FPS``) frames per second."""

    kind = "video"

    def __init__(
        self,
        rgb: tuple[int, int, int],
        picture: np.ndarray[Any, Any] | None = None,
        fps: int = FPS,
    ) -> None:
        """``picture``: an RGB photograph (H x W x 3, even sides) sent instead of ``rgb``;
        it may be changed (or set back to ``None``: the solid colour) while sending."""
        super().__init__()
        self.rgb = rgb
        self.picture = picture
        self.fps = fps
        self._solid = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
        self._solid[:, :] = rgb
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._count += 1
        wait = self._start + self._count / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        picture = self.picture if self.picture is not None else self._solid
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = self._count * (_VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, _VIDEO_CLOCK)
        return frame

    @property
    def sent(self) -> int:
        """Frames handed to the sender so far."""
        return self._count


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms mono frames at 48 kHz."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        samples = int(_AUDIO_RATE * AUDIO_PTIME)
        wait = self._start + self._count * AUDIO_PTIME - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(samples) + self._count * samples) / _AUDIO_RATE
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = _AUDIO_RATE
        frame.pts = self._count * samples
        frame.time_base = fractions.Fraction(1, _AUDIO_RATE)
        self._count += 1
        return frame
