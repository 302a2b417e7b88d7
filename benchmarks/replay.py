"""Tracks that replay pre-encoded clips in real time, as ``av.Packet`` (aiortc only packetises
them: ``RTCRtpSender`` encodes ``av.Frame`` and passes anything else to ``encoder.pack()``).

The video track loops its clip and starts over at the keyframe when asked
(:meth:`ReplayVideoTrack.request_keyframe`), like a camera encoder answering a PLI.
Frames are never skipped, even when the event loop falls behind (an inter frame depends on
the previous one); a frame sent more than one frame period late is counted in ``late`` so
the report can say when the load generator itself could not keep up.

Lip-sync marks: when the video track is about to send frame 0 (the clip's flash frame) it
tells the audio track (:meth:`ReplayAudioTrack.beep_at`) when that frame is due; the audio
track plays the clip's beep from the audio slot nearest to that time (within half a packet,
10 ms) and records the difference in ``mark_offsets`` (the sender's own offset).
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

    def next_due(self) -> float:
        """When the next slot is due (the first slot is due when first asked)."""
        if self.start is None:
            self.start = self.clock()
        return self.start + self.sent * self.period

    async def wait(self) -> None:
        due = self.next_due()
        now = self.clock()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > self.period:
            self.late += 1
        self.sent += 1


class ReplayVideoTrack(MediaStreamTrack):
    """A VP8 clip, looped, at the clip's frame rate."""

    kind = "video"

    def __init__(
        self,
        clip: VideoClip,
        clock: Callable[[], float] = time.monotonic,
        on_mark: Callable[[float], None] | None = None,
    ) -> None:
        """``on_mark(due)``: called before frame 0 (the flash frame) is sent, with the
        monotonic time it is due."""
        super().__init__()
        self.clip = clip
        self.on_mark = on_mark
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
        if self._position == 0 and self.on_mark is not None:
            self.on_mark(self._pacer.next_due())
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
        self._beep_due: float | None = None
        self._beep_left = 0
        self.mark_offsets: list[float] = []
        """Per beep played: its due time minus the video mark's (seconds, within ±10 ms)."""

    @property
    def sent(self) -> int:
        return self._pacer.sent

    def beep_at(self, due: float) -> None:
        """Play the beep from the slot nearest to monotonic time ``due``."""
        if self.clip.beep:
            self._beep_due = due

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        due = self._pacer.next_due()
        await self._pacer.wait()
        index = self._pacer.sent - 1
        if self._beep_due is not None and due >= self._beep_due - AUDIO_PTIME / 2:
            self.mark_offsets.append(due - self._beep_due)
            self._beep_due, self._beep_left = None, len(self.clip.beep)
        if self._beep_left:
            data = self.clip.beep[len(self.clip.beep) - self._beep_left]
            self._beep_left -= 1
        else:
            data = self.clip.packets[index % len(self.clip.packets)]
        packet = av.Packet(data)
        packet.pts = index * AUDIO_SAMPLES
        packet.time_base = self._time_base
        return packet
