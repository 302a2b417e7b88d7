"""Evidence clips: the last seconds of a visitor's encoded video, kept at the SFU and
written as WebM without transcoding (``moderation.evidence_clip_s``).

The SFU already holds every encoded VP8 frame it forwards; a :class:`ClipBuffer` keeps the
groups of pictures (a keyframe and the frames that depend on it) that cover the last
``seconds`` of a visitor's inbound video, never more than ``max_bytes``, so that memory
per visitor is bounded. :func:`mux_webm` muxes them into a WebM file with PyAV (packets
are copied, nothing is decoded or encoded). A clip always starts at a keyframe, so any
player decodes it from its first frame.
"""

from __future__ import annotations

import fractions
import io
from collections import deque
from collections.abc import Sequence

import av

from sfu.passthrough import EncodedFrame

VIDEO_CLOCK = 90_000
DEFAULT_MAX_BYTES = 1_500_000
"""Cap of one visitor's clip buffer (4 s at 3 Mbps); older pictures go first."""


class ClipBuffer:
    """The latest groups of pictures of one visitor's video covering ``seconds``."""

    def __init__(self, seconds: float, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if seconds <= 0 or max_bytes <= 0:
            raise ValueError("a clip needs a positive length and byte budget")
        self.span = int(seconds * VIDEO_CLOCK)
        self.max_bytes = max_bytes
        self.bytes = 0
        self._gops: deque[list[EncodedFrame]] = deque()

    def add(self, frame: EncodedFrame) -> None:
        """One inbound video frame, in arrival order (timestamps from 0 per source)."""
        if frame.keyframe:
            self._gops.append([frame])
        elif self._gops:
            self._gops[-1].append(frame)
        else:
            return  # nothing decodable before the first keyframe
        self.bytes += len(frame.data)
        self._trim(frame.timestamp)

    def _trim(self, now: int) -> None:
        # Drop the oldest picture group once the next one alone reaches back far enough.
        while len(self._gops) > 1 and now - self._gops[1][0].timestamp >= self.span:
            self._drop_oldest()
        while self.bytes > self.max_bytes and self._gops:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        gone = self._gops.popleft()
        self.bytes -= sum(len(f.data) for f in gone)

    def frames(self) -> list[EncodedFrame]:
        """The buffered frames, a keyframe first (empty: none yet)."""
        return [frame for gop in self._gops for frame in gop]

    def clear(self) -> None:
        self._gops.clear()
        self.bytes = 0


def vp8_size(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a VP8 keyframe header (RFC 6386 9.1)."""
    if len(keyframe) < 10:
        raise ValueError("not a VP8 keyframe")
    width = int.from_bytes(keyframe[6:8], "little") & 0x3FFF
    height = int.from_bytes(keyframe[8:10], "little") & 0x3FFF
    return width, height


def mux_webm(frames: Sequence[EncodedFrame]) -> bytes:
    """A WebM file of ``frames`` (a keyframe first), muxed as they are. Blocking: run it
    in a worker thread."""
    if not frames or not frames[0].keyframe:
        raise ValueError("a clip starts at a keyframe")
    width, height = vp8_size(frames[0].data)
    time_base = fractions.Fraction(1, VIDEO_CLOCK)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=30)
        stream.width, stream.height = width, height
        stream.time_base = time_base
        start, last = frames[0].timestamp, -1
        for frame in frames:
            pts = max(frame.timestamp - start, last + 1)  # strictly increasing
            last = pts
            packet = av.Packet(frame.data)
            packet.stream = stream
            packet.pts = packet.dts = pts
            packet.time_base = time_base
            packet.is_keyframe = frame.keyframe
            container.mux(packet)
    return buffer.getvalue()
