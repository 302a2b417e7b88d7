"""Lip sync as a receiver measures it: the audio–video offset of the clip's marks.

Every caller's clip carries matching marks (:mod:`benchmarks.clip`): frame 0 of the video
has a white strip at the bottom, and the audio plays a beep at the same capture time. A
receiver records, per mark, its RTP timestamp and when it arrived:

- a **video mark** is the first frame whose strip is white after one whose strip was black;
  its timestamp is the decoded frame's (aiortc's receiver sets it to the RTP timestamp
  minus the first one it saw: :func:`rtp_origin` adds that back);
- an **audio mark** is the first loud sample after a quiet frame; its timestamp is the
  frame's plus the sample's index, minus the codec's delay measured when the clip was made
  (:attr:`~benchmarks.clip.AudioClip.beep_delay`): the RTP timestamp of the beep's start.

It also records every Sender Report of both streams. A browser aligns audio and video by
mapping each stream's RTP timestamps to the sender's wall clock through those reports; the
bench does the same with the latest report of each stream received before the mark (as a
browser would: after a Next that may still be the previous partner's mapping), and
reports the **offset**: audio mark's wall time minus video mark's. An SFU that rewrites
timestamps must rewrite the reports to match, and announce a new mapping when it switches
sources, or the offset is off by whatever it shifted. Marks pair up only within one match.
The **arrival offset** is the same difference in arrival times at the receiver (what a
receiver that does not use the reports would play).

The sender starts each beep within 10 ms of its video mark (the audio slot nearest to it),
and records by how much (``ReplayAudioTrack.mark_offsets``): that is the offset the SFU is
given; the report shows it next to the measured one.
"""

from __future__ import annotations

import bisect
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtcpSrPacket

from benchmarks.clip import AUDIO_RATE, VIDEO_CLOCK, loud_onset

PAIR_S = 0.4
"""A video mark and an audio mark pair up when they arrive at most this far apart (marks
are sent a clip's length apart, two seconds by default)."""
CLOCK = {"audio": AUDIO_RATE, "video": VIDEO_CLOCK}


@dataclass
class SyncLog:
    """What one receiver saw of the marks and the Sender Reports (monotonic arrival times;
    RTP timestamps as received)."""

    video_at: array[float] = field(default_factory=lambda: array("d"))
    video_rtp: array[int] = field(default_factory=lambda: array("q"))
    audio_at: array[float] = field(default_factory=lambda: array("d"))
    audio_rtp: array[int] = field(default_factory=lambda: array("q"))
    reports: dict[str, list[tuple[float, float, int]]] = field(
        default_factory=lambda: {"audio": [], "video": []}
    )
    """Per kind: (arrival, sender's wall clock in NTP seconds, RTP timestamp)."""


Origin = Callable[[], int | None]
"""The RTP timestamp a receiver's decoded timestamps count from (``None`` before any)."""


def rtp_origin(receiver: RTCRtpReceiver) -> Origin:
    """Reads aiortc's ``RTCRtpReceiver.__timestamp_mapper._origin`` (aiortc 1.16): decoded
    frames carry the RTP timestamp minus it (``TimestampMapper.map``, which also lowers it
    by 2**32 at a wrap). The bench test fails if it is gone or means something else."""
    hooked: Any = receiver
    mapper = hooked._RTCRtpReceiver__timestamp_mapper

    def origin() -> int | None:
        value = mapper._origin
        return None if value is None else int(value)

    return origin


class MarkReader:
    """Finds the marks in one receiver's decoded frames and writes them to a :class:`SyncLog`."""

    def __init__(self, log: SyncLog, beep_delay: int) -> None:
        self.log = log
        self.beep_delay = beep_delay
        self._flash = True  # no mark until a black strip was seen (a late join mid-flash)
        self._loud = True

    def video(self, flash: bool | None, pts: int | None, origin: Origin, at: float) -> None:
        """A decoded video frame: its strip (``read_flash``), timestamp and arrival."""
        if flash is None or pts is None:
            return
        start = origin()
        if flash and not self._flash and start is not None:
            self.log.video_at.append(at)
            self.log.video_rtp.append((pts + start) & 0xFFFFFFFF)
        self._flash = flash

    def audio(self, frame: Any, origin: Origin, at: float) -> None:
        """A decoded ``av.AudioFrame`` (packed s16) and its arrival."""
        onset = loud_onset(frame)
        start = origin()
        if onset is not None and not self._loud and frame.pts is not None and start is not None:
            shift = onset - self.beep_delay
            self.log.audio_at.append(at + shift / AUDIO_RATE)
            self.log.audio_rtp.append((int(frame.pts) + start + shift) & 0xFFFFFFFF)
        self._loud = onset is not None


def watch_sender_reports(receiver: RTCRtpReceiver, kind: str, log: SyncLog) -> None:
    """Record the Sender Reports ``receiver`` gets (wraps aiortc's private
    ``RTCRtpReceiver._handle_rtcp_packet`` on the instance, as the SFU's hooks do; the
    bench's unit test fails if aiortc stops calling it with Sender Reports)."""
    original = receiver._handle_rtcp_packet
    reports = log.reports[kind]

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            reports.append((time.monotonic(), info.ntp_timestamp / 2**32, info.rtp_timestamp))
        await original(packet)

    receiver._handle_rtcp_packet = handle  # type: ignore[method-assign]


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def wall_time(
    reports: Sequence[tuple[float, float, int]], kind: str, rtp: int, at: float
) -> float | None:
    """The sender's wall time of RTP timestamp ``rtp`` by the latest report received
    before ``at``; ``None`` without one."""
    arrivals = [r[0] for r in reports]
    last = bisect.bisect_right(arrivals, at) - 1
    if last < 0:
        return None
    _, ntp, report_rtp = reports[last]
    return ntp + _signed32(rtp - report_rtp) / CLOCK[kind]


@dataclass
class LipSync:
    """One receiver's paired marks within the steady window."""

    offsets_ms: list[float] = field(default_factory=list)
    """Audio minus video on the senders' clock (through the Sender Reports)."""
    arrival_offsets_ms: list[float] = field(default_factory=list)
    unpaired: int = 0
    """Video marks with no audio mark near them in the same match (or no report before)."""


def lip_sync(log: SyncLog, match_starts: Sequence[float], start: float, end: float) -> LipSync:
    """Pair each video mark arriving in ``[start, end]`` with the audio mark arriving nearest
    to it in the same match (``match_starts``: sorted monotonic times), if that video mark is
    also the audio mark's nearest (a Next can make a source send two marks in quick
    succession; a missing beep must not pair one's flash with the other's), and measure both
    offsets."""
    result = LipSync()
    video = list(zip(log.video_at, log.video_rtp, strict=True))
    audio = list(zip(log.audio_at, log.audio_rtp, strict=True))
    for at_v, rtp_v in video:
        if not start <= at_v <= end:
            continue
        pair = _nearest(at_v, audio, match_starts)
        if pair is None or _nearest(pair[0], video, match_starts) != (at_v, rtp_v):
            result.unpaired += 1
            continue
        at_a, rtp_a = pair
        wall_v = wall_time(log.reports["video"], "video", rtp_v, at_v)
        wall_a = wall_time(log.reports["audio"], "audio", rtp_a, at_a)
        if wall_v is None or wall_a is None:
            result.unpaired += 1
            continue
        result.offsets_ms.append((wall_a - wall_v) * 1000)
        result.arrival_offsets_ms.append((at_a - at_v) * 1000)
    return result


def _nearest(
    at: float, marks: list[tuple[float, int]], match_starts: Sequence[float]
) -> tuple[float, int] | None:
    """The mark of ``marks`` arriving nearest to ``at``, within :data:`PAIR_S`, in the same
    match."""
    current = bisect.bisect_right(match_starts, at)
    since = match_starts[current - 1] if current else float("-inf")
    until = match_starts[current] if current < len(match_starts) else float("inf")
    near = [
        (abs(t - at), t, rtp) for t, rtp in marks if since <= t < until and abs(t - at) <= PAIR_S
    ]
    if not near:
        return None
    _, t, rtp = min(near)
    return t, rtp
