"""Evidence clips kept as RTP packets (``forwarding = "packets"``), reassembled on demand.

:class:`PacketClip` is the clip buffer of a :class:`sfu.packet_feed.PacketFeed`: it keeps
packet runs that start at a keyframe and depayloads them (aiortc's VP8 depayloader) only when
a clip is asked for. Assumes packets of one video source, in arrival order.
"""

from __future__ import annotations

from collections import deque

from aiortc.codecs import depayload
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from sfu.clip import DEFAULT_MAX_BYTES, ClipBuffer
from sfu.passthrough import EncodedFrame, is_vp8_keyframe
from sfu.rtp_rewrite import (
    SEQ_MOD,
    TS_MOD,
)


class PacketClip(ClipBuffer):
    """An evidence clip buffer fed RTP packets (:meth:`add_packet`), not frames.

    It keeps the packet runs that start at a keyframe and cover the last ``seconds``
    (bounded by ``max_bytes`` of payload), and reassembles frames only when a clip is asked
    for (:meth:`frames`): keeping clips then costs no reassembly per packet. Within a run,
    packets are put in sequence order (retransmissions arrive late) and the run stops at
    the first packet still missing (what follows would not decode)."""

    def __init__(self, seconds: float, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(seconds, max_bytes)
        self._runs: deque[list[RtpPacket]] = deque()
        self._codec: RTCRtpCodecParameters | None = None

    def add(self, frame: EncodedFrame) -> None:
        """Frames are not kept: the packets are (:meth:`add_packet`)."""

    def add_packet(self, packet: RtpPacket, codec: RTCRtpCodecParameters, keyframe: bool) -> None:
        """One inbound video packet, in arrival order."""
        if keyframe:
            self._runs.append([packet])
            self._codec = codec
        elif self._runs:
            self._runs[-1].append(packet)
        else:
            return
        self.bytes += len(packet.payload)
        while len(self._runs) > 1 and (
            (packet.timestamp - self._runs[1][0].timestamp) % TS_MOD >= self.span
        ):
            self._drop_run()
        while self.bytes > self.max_bytes and self._runs:
            self._drop_run()

    def _drop_run(self) -> None:
        gone = self._runs.popleft()
        self.bytes -= sum(len(p.payload) for p in gone)

    def frames(self) -> list[EncodedFrame]:
        codec = self._codec
        if codec is None:
            return []
        frames: list[EncodedFrame] = []
        for run in self._runs:
            first = run[0].sequence_number
            ordered = sorted({(p.sequence_number - first) % SEQ_MOD: p for p in run}.items())
            parts: list[bytes] = []
            timestamp: int | None = None
            for expected, (offset, packet) in enumerate(ordered):
                if offset != expected:
                    break  # a packet is missing: nothing after it decodes
                if timestamp is not None and packet.timestamp != timestamp:
                    frames.append(_frame(b"".join(parts), timestamp))
                    parts = []
                timestamp = packet.timestamp
                try:
                    parts.append(depayload(codec, packet.payload))
                except ValueError:
                    break
            if timestamp is not None and parts and ordered[-1][1].marker:
                frames.append(_frame(b"".join(parts), timestamp))
        return frames

    def clear(self) -> None:
        super().clear()
        self._runs.clear()


def _frame(data: bytes, timestamp: int) -> EncodedFrame:
    return EncodedFrame(data, timestamp, is_vp8_keyframe(data))
