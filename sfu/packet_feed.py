"""The inbound half of packet forwarding: a visitor's RTP packets, loss repair, frames on demand.

A :class:`PacketFeed` gets every RTP packet of a visitor's receiver (Hook 9,
``sfu.aiortc_rtp_hooks.hook_receiver_packets``) and hands it to the subscribed partner
tracks (:class:`sfu.packets.PacketTrack`) in order, synchronously (on the fast path, Hook
11, straight from the datagram callback). It NACKs gaps in its source's video
sequence numbers (again every ``NACK_RETRY_S``, up to ``NACK_TRIES`` times) and asks for a
keyframe when a packet never comes; it reassembles whole frames only while the moderation
tap or a pipe waits for one, and keeps evidence clips as packets
(:class:`sfu.packet_clip.PacketClip`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from sfu.aiortc_fastpath import FastPath
from sfu.aiortc_rtp_hooks import (
    PacketReceiverControl,
    hook_receiver_packets,
)
from sfu.clip import VIDEO_CLOCK, ClipBuffer
from sfu.packet_clip import PacketClip
from sfu.passthrough import EncodedFeed, EncodedFrame, is_vp8_keyframe
from sfu.rtp_rewrite import (
    LossTracker,
    vp8_frame_start,
    vp8_keyframe_start,
)

logger = logging.getLogger(__name__)

PacketSink = Callable[[RtpPacket, bool], None]
"""Gets each packet of a feed and whether it starts a keyframe; called in order, on the
event loop, synchronously (from the datagram callback on the fast path)."""
ReportSink = Callable[[int, int], None]
"""Gets each Sender Report of a feed's source: (NTP timestamp, RTP timestamp)."""

NACK_INTERVAL = 0.02
"""Seconds between two passes over a feed's missing packets (re-NACK, give up)."""
NACK_RETRY_S = 0.08
"""Seconds between two NACKs of one missing packet."""
NACK_TRIES = 8
"""NACKs per missing packet before giving up on it (about 0.6 s)."""


class PacketFeed(EncodedFeed):
    """One visitor's inbound RTP packets of one kind, pushed to packet sinks.

    Frame sinks (:meth:`subscribe`), evidence clips and keyframe waiters still get whole
    encoded frames, reassembled only while one of them exists. ``frames`` and ``keyframes``
    count frames seen in the packets (marker bits, keyframe starts) either way."""

    def __init__(self, kind: str, owner: str, gop_limit: int = 150) -> None:
        super().__init__(kind, owner, gop_limit)
        self.packets = 0
        self.nacks_sent = 0
        """Sequence numbers NACKed to the source (first requests and retries)."""
        self.relayed_nacks = 0
        """Sequence numbers a partner NACKed that the SFU had not received either."""
        self.loss = LossTracker(retry_s=NACK_RETRY_S, tries=NACK_TRIES)
        self.discontinuities = 0
        """Times a lost packet was given up on (tracks then wait for a keyframe and start
        a new run of sequence numbers at it)."""
        self._packet_sinks: list[PacketSink] = []
        self._report_sinks: list[ReportSink] = []
        self._packet_control: PacketReceiverControl | None = None
        self._ssrc: int | None = None
        self.sender_report: tuple[int, int] | None = None
        """The source's last Sender Report: (NTP timestamp, RTP timestamp)."""
        self._assembler: JitterBuffer | None = None
        self._nack_timer: asyncio.TimerHandle | None = None

    @property
    def clip(self) -> ClipBuffer | None:
        """Evidence clip buffer: a plain :class:`ClipBuffer` given by the router is
        replaced by a :class:`PacketClip` of the same length and budget."""
        return self._clip

    @clip.setter
    def clip(self, value: ClipBuffer | None) -> None:
        if value is not None and not isinstance(value, PacketClip):
            value = PacketClip(value.span / VIDEO_CLOCK, value.max_bytes)
        self._clip = value

    @property
    def fast_packets(self) -> int:
        """RTP packets of this feed's transport (audio and video together, with BUNDLE)
        handled on the fast path (Hook 11: from the datagram callback, synchronously)."""
        control = self._packet_control
        path = control.fast_path if control is not None else None
        return path.packets if path is not None else 0

    @property
    def native_packets(self) -> int:
        """Of :attr:`fast_packets`, those forwarded in C (Hook 12)."""
        control = self._packet_control
        path = control.fast_path if control is not None else None
        return path.native_packets if path is not None else 0

    def native_source(self) -> tuple[FastPath, RTCRtpReceiver] | None:
        """This feed's fast path and receiver, once the fast path is installed (for
        :func:`sfu.aiortc_fastpath.native_route`)."""
        control = self._packet_control
        if control is None or control.fast_path is None:
            return None
        return control.fast_path, control.receiver

    def hook(self, receiver: RTCRtpReceiver, estimate_uplink: bool = True) -> None:
        """Take this kind's RTP packets out of ``receiver`` (before it starts)."""
        control = hook_receiver_packets(
            receiver,
            on_packet=self.on_packet,
            on_sender_report=self._on_sender_report,
            estimate_uplink=estimate_uplink,
        )
        self._packet_control = control
        self.attach_control(control)

    # --- sinks --------------------------------------------------------------------------

    @property
    def packet_sinks(self) -> tuple[PacketSink, ...]:
        return tuple(self._packet_sinks)

    def subscribe_packets(self, sink: PacketSink, reports: ReportSink | None = None) -> None:
        if sink not in self._packet_sinks:
            self._packet_sinks.append(sink)
        if reports is not None and reports not in self._report_sinks:
            self._report_sinks.append(reports)

    def unsubscribe_packets(self, sink: PacketSink, reports: ReportSink | None = None) -> None:
        with contextlib.suppress(ValueError):
            self._packet_sinks.remove(sink)
        if reports is not None:
            with contextlib.suppress(ValueError):
                self._report_sinks.remove(reports)

    # --- packets in ---------------------------------------------------------------------

    def on_packet(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        """One RTP packet from the source (RTX already unwrapped)."""
        self.packets += 1
        self.bytes += len(packet.payload)
        self._ssrc = packet.ssrc
        keyframe = False
        if self.kind == "video":
            self._track_loss(packet.sequence_number)
            keyframe = vp8_keyframe_start(packet.payload)
            if keyframe:
                self.keyframes += 1
                self._cancel_pending_pli()
            if packet.marker:
                self.frames += 1
        else:
            self.frames += 1
        clip = self._clip
        if clip is not None and self.kind == "video":
            assert isinstance(clip, PacketClip)
            clip.add_packet(packet, codec, keyframe)
        if self._sinks or self._keyframe_waiters:
            self._assemble(packet, codec)
        else:
            self._assembler = None
        for sink in list(self._packet_sinks):
            try:
                sink(packet, keyframe)
            except Exception:  # a broken consumer must not stop the others
                logger.exception("packet sink failed (%s of %s)", self.kind, self.owner)

    def _on_sender_report(self, ssrc: int, ntp_timestamp: int, rtp_timestamp: int) -> None:
        self.sender_report = (ntp_timestamp, rtp_timestamp)
        for sink in list(self._report_sinks):
            sink(ntp_timestamp, rtp_timestamp)

    # --- loss: NACK the source, a few times, then ask for a keyframe ---------------------

    def _track_loss(self, seq: int) -> None:
        new, gave_up = self.loss.received(seq, time.monotonic())
        if new:
            self._nack(new)
        if gave_up:
            self._unrecoverable()
        if self.loss.missing and self._nack_timer is None:
            loop = asyncio.get_running_loop()
            self._nack_timer = loop.call_later(NACK_INTERVAL, self._nack_again)

    def _nack_again(self) -> None:
        self._nack_timer = None
        again, gave_up = self.loss.due(time.monotonic())
        if again:
            self._nack(again)
        if gave_up:
            self._unrecoverable()
        if self.loss.missing:
            loop = asyncio.get_running_loop()
            self._nack_timer = loop.call_later(NACK_INTERVAL, self._nack_again)

    def _unrecoverable(self) -> None:
        """A packet will not come: what follows is undecodable until the next keyframe."""
        self.lost()
        self.discontinuities += 1
        self.request_keyframe()

    def _nack(self, seqs: list[int]) -> None:
        if self._packet_control is None or self._ssrc is None:
            return
        self.nacks_sent += len(seqs)
        self._send_rtcp(self._nack_coro(self._ssrc, seqs))

    async def _nack_coro(self, ssrc: int, seqs: list[int]) -> bool:
        if self._packet_control is None:
            return False
        await self._packet_control.send_nack(ssrc, seqs)
        return True

    def retransmit_upstream(self, seqs: list[int]) -> None:
        """A partner lost these packets and the SFU never got them: NACK the source (if
        the feed is not NACKing them already)."""
        missing = set(self.loss.missing)
        ask = [s for s in seqs if s not in missing]
        self.relayed_nacks += len(seqs)
        if ask:
            self._nack(ask)

    # --- frames on demand ---------------------------------------------------------------

    def _assemble(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        try:
            data = depayload(codec, packet.payload) if packet.payload else b""
        except ValueError:
            return
        if self.kind == "audio":
            self.accept(data, packet.timestamp)
            return
        if self._assembler is None:
            if not vp8_frame_start(packet.payload):
                return  # start at a frame boundary: no partial first frame
            self._assembler = JitterBuffer(capacity=128, is_video=True)
        packet._data = data  # type: ignore[attr-defined]  # what JitterBuffer joins
        lost, frame = self._assembler.add(packet)
        if lost:
            self.lost()
        if frame is not None:
            self.accept(bytes(frame.data), int(frame.timestamp))

    def accept(self, data: bytes, timestamp: int) -> None:
        """One reassembled frame: keyframe waiters, gop, clip and frame sinks (the packet
        path already counted it)."""
        keyframe = self.kind == "video" and is_vp8_keyframe(data)
        item = EncodedFrame(data, timestamp, keyframe)
        if self.kind == "video":
            if keyframe:
                self._broken = False
                self.gop = [item]
                for waiter in self._keyframe_waiters:
                    if not waiter.done():
                        waiter.set_result(item)
                self._keyframe_waiters.clear()
            elif self._broken:
                return
            elif self.gop:
                if len(self.gop) < self._gop_limit:
                    self.gop.append(item)
                else:
                    self.gop = []
            if self.clip is not None:
                self.clip.add(item)
        for sink in list(self._sinks):
            try:
                sink(item)
            except Exception:
                logger.exception("feed sink failed (%s of %s)", self.kind, self.owner)

    async def close(self) -> None:
        await super().close()
        self._packet_sinks.clear()
        self._report_sinks.clear()
        self._packet_control = None
        if self._nack_timer is not None:
            self._nack_timer.cancel()
            self._nack_timer = None
