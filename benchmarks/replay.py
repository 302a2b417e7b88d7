"""Tracks that replay pre-encoded clips in real time, as ``av.Packet`` (aiortc only packetises
them: ``RTCRtpSender`` encodes ``av.Frame`` and passes anything else to ``encoder.pack()``).

The video track loops its clip and starts over at the keyframe when asked
(:meth:`ReplayVideoTrack.request_keyframe`), like a camera encoder answering a PLI.
Frames are never skipped, even when the event loop falls behind (an inter frame depends on
the previous one); a frame sent more than one frame period late is counted in ``late`` so
the report can say when the load generator itself could not keep up.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from benchmarks.clip import (
    AUDIO_PTIME,
    AUDIO_RATE,
    AUDIO_SAMPLES,
    VIDEO_CLOCK,
    AudioClip,
    VideoClip,
)


class _Pacer:
    """Yields slot ``n`` at ``start + n * period`` (monotonic)."""

    def __init__(self, period: float, clock: Callable[[], float]) -> None:
        self.period = period
        self.clock = clock
        self.start: float | None = None
        self.sent = 0
        self.late = 0

    async def wait(self) -> None:
        now = self.clock()
        if self.start is None:
            self.start = now
        due = self.start + self.sent * self.period
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > self.period:
            self.late += 1
        self.sent += 1


class ReplayVideoTrack(MediaStreamTrack):
    """A VP8 clip, looped, at the clip's frame rate."""

    kind = "video"

    def __init__(self, clip: VideoClip, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clip = clip
        self._pacer = _Pacer(1 / clip.spec.fps, clock)
        self._step = VIDEO_CLOCK // clip.spec.fps
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._position = 0
        self.keyframe_requests = 0

    @property
    def sent(self) -> int:
        return self._pacer.sent

    @property
    def late(self) -> int:
        return self._pacer.late

    def request_keyframe(self) -> None:
        """Send the clip's keyframe (frame 0) next, as an encoder does on a PLI/FIR."""
        self.keyframe_requests += 1
        self._position = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait()
        frames = self.clip.frames
        packet = av.Packet(frames[self._position % len(frames)])
        self._position = (self._position + 1) % len(frames)
        packet.pts = (self._pacer.sent - 1) * self._step
        packet.time_base = self._time_base
        return packet


class ReplayAudioTrack(MediaStreamTrack):
    """An Opus clip, looped, one packet per 20 ms."""

    kind = "audio"

    def __init__(self, clip: AudioClip, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clip = clip
        self._pacer = _Pacer(AUDIO_PTIME, clock)
        self._time_base = fractions.Fraction(1, AUDIO_RATE)

    @property
    def sent(self) -> int:
        return self._pacer.sent

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait()
        index = self._pacer.sent - 1
        packet = av.Packet(self.clip.packets[index % len(self.clip.packets)])
        packet.pts = index * AUDIO_SAMPLES
        packet.time_base = self._time_base
        return packet
