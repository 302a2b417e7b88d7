"""The ``packets`` forwarding strategy: RTP packets in, RTP packets out, no frames.

A visitor's receiver hands every decrypted RTP packet to a :class:`PacketFeed`
(``sfu.aiortc_rtp_hooks.hook_receiver_packets``); the partner's :class:`PacketTrack` rewrites
it for its own stream (SSRC, sequence number, timestamp, payload type, header extension
ids: :class:`sfu.rtp_rewrite.StreamRewriter`) and hands it to the partner's transport for
SRTP and sending (``sfu.aiortc_rtp_hooks.PacketSender``). aiortc's jitter buffer,
depacketiser and re-packetiser never run; aiortc still does ICE, DTLS, SRTP and RTCP.

- **Switches** (Next): a video track forwards a new source from its next keyframe (read
  from the VP8 payload descriptor) and asks the source for one (PLI, coalesced by the feed).
  Timestamps stay continuous; sequence numbers jump by ``SEQUENCE_GAP`` so that a
  receiver drops what it holds of the previous partner (see ``PacketTrack.switch``).
- **Loss**: the feed tracks gaps in its source's sequence numbers and NACKs them (again,
  a few times); a packet that never comes makes it request a keyframe. A partner's NACK is
  answered from the track's history of sent packets, or relayed to the source (translated
  to the source's sequence numbers) if the packet never reached the SFU. PLI/FIR and REMB
  from the partner are relayed to the source, as in passthrough.
- **Lip sync**: each Sender Report of the source is passed on with its RTP timestamp
  rewritten by the same offset as the packets, so the partner's browser can align audio
  and video as the source captured them.
- **Frames only on demand**: the moderation tap and pipes to other SFU processes want
  whole encoded frames. The feed reassembles frames (aiortc's depayloader and jitter
  buffer) only while one of them is waiting; when a tap is pending, only until the next
  keyframe. Evidence clips keep packets (:class:`PacketClip`) and reassemble on request.

A track whose source is not a :class:`PacketFeed` (a pipe from another SFU process sends
frames) falls back to :class:`sfu.passthrough.EncodedTrack`'s frame path on the same sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from duet.tasks import TaskSet
from sfu.aiortc_hooks import SEQUENCE_GAP
from sfu.aiortc_rtp_hooks import (
    PacketReceiverControl,
    PacketSender,
    hook_receiver_packets,
    hook_sender_packets,
)
from sfu.clip import DEFAULT_MAX_BYTES, VIDEO_CLOCK, ClipBuffer
from sfu.forwarding import FRAME_STEP, Feed
from sfu.passthrough import EncodedFeed, EncodedFrame, EncodedTrack, is_vp8_keyframe
from sfu.rtp_rewrite import (
    SEQ_MOD,
    TS_MOD,
    LossTracker,
    PacketHistory,
    StreamRewriter,
    abs_send_time,
    vp8_frame_start,
    vp8_keyframe_start,
)

logger = logging.getLogger(__name__)

PacketSink = Callable[[RtpPacket, bool], Awaitable[None]]
"""Gets each packet of a feed and whether it starts a keyframe; awaited in order."""
ReportSink = Callable[[int, int], None]
"""Gets each Sender Report of a feed's source: (NTP timestamp, RTP timestamp)."""

HISTORY_SIZE = 256
"""Video packets kept per outbound stream to answer NACKs (about 2.5 s at 1 Mbit/s; aiortc's
own sender keeps 128). Audio is not NACKed and keeps none."""
HOLD_PACKETS = 2048
"""Packets a held (not yet screened) video track keeps since the last keyframe start."""
NACK_INTERVAL = 0.02
"""Seconds between two passes over a feed's missing packets (re-NACK, give up)."""
NACK_RETRY_S = 0.08
"""Seconds between two NACKs of one missing packet."""
NACK_TRIES = 8
"""NACKs per missing packet before giving up on it (about 0.6 s)."""


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

    async def on_packet(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
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
                await sink(packet, keyframe)
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


class PacketTrack(EncodedTrack):
    """A visitor's outbound stream of one kind, fed packet by packet by its source."""

    def __init__(self, kind: str, queue_size: int = 16) -> None:
        super().__init__(kind, queue_size)
        self.out: PacketSender | None = None
        self.rewriter = StreamRewriter(FRAME_STEP[kind], compact=kind == "audio")
        size = HISTORY_SIZE if kind == "video" else 1
        self.history: PacketHistory[RtpPacket] = PacketHistory(size)
        self.packets = 0
        """RTP packets sent on this stream (first transmissions)."""
        self.retransmissions = 0
        """Packets sent again for the partner's NACKs, from the history."""
        self._packet_source: PacketFeed | None = None
        self._discontinuities = 0
        self._resync = False
        """At the next keyframe, skip sequence numbers (an unrecoverable loss upstream)."""
        self._held_packets: list[tuple[RtpPacket, bool]] | None = None
        self._tasks = TaskSet()

    def hook(self, sender: RTCRtpSender) -> None:
        self.out = hook_sender_packets(
            sender,
            on_keyframe_request=self._partner_wants_keyframe,
            on_remb=self._remb,
            on_nack=self._on_nack,
        )

    # --- switching ----------------------------------------------------------------------

    def switch(self, feed: Feed | None) -> None:
        """Forward ``feed`` from now on: packet by packet if it is a :class:`PacketFeed`,
        else frame by frame (the sender packetises). No renegotiation."""
        if feed is self.source:
            return
        if self._packet_source is not None:
            self._packet_source.unsubscribe_packets(self._on_packet, self._on_report)
            self._packet_source = None
        elif self.source is not None:
            self.source.unsubscribe(self._deliver)
        while not self._queue.empty():
            self._queue.get_nowait()
        self.source = feed
        self._rebase = True
        self._new_source = self._new_source or self.frames > 0
        self.switches += 1
        # A new source starts after Hook 8's sequence gap (timestamps stay continuous): a
        # receiver that holds the last frame until a packet of the next one arrives
        # (aiortc's jitter buffer) would otherwise show the previous partner's last frame
        # once the new partner's first packet came; and a frame cut in the middle would be
        # decoded incomplete. The gap makes it drop both; a browser asks for a keyframe,
        # which the new source is sending anyway.
        self.rewriter.start_source(SEQUENCE_GAP if self.packets else 0)
        self._resync = False
        self._on_switch()  # video waits for a keyframe of the new source, requested now
        if isinstance(feed, PacketFeed):
            self._packet_source = feed
            self._discontinuities = feed.discontinuities
            feed.subscribe_packets(self._on_packet, self._on_report)
        elif feed is not None:
            feed.subscribe(self._deliver)

    def _on_switch(self) -> None:
        super()._on_switch()
        if self._held_packets is not None:
            self._held_packets = []

    # --- packets out --------------------------------------------------------------------

    async def _on_packet(self, packet: RtpPacket, keyframe: bool) -> None:
        if self.readyState != "live" or self.out is None or not self.out.ready:
            return
        if self.kind == "video":
            source = self._packet_source
            if source is not None and source.discontinuities != self._discontinuities:
                self._discontinuities = source.discontinuities
                self._awaiting_keyframe = self._resync = True
            if self._held_packets is not None:
                self._hold_packet(packet, keyframe)
                return
            if self._awaiting_keyframe:
                if not keyframe:
                    if packet.marker:
                        self.dropped += 1
                        if self.source is not None:
                            self.source.request_keyframe()
                    return
                self._awaiting_keyframe = False
                if self._resync:
                    self._resync = False
                    self.rewriter.start_source(SEQUENCE_GAP)
        await self._send(packet)

    async def _send(self, packet: RtpPacket) -> None:
        out = self.out
        assert out is not None and out.payload_type is not None
        new_offsets = not self.rewriter.mapped
        mapped = self.rewriter.rewrite(packet.sequence_number, packet.timestamp)
        if mapped is None:
            return
        seq, ts = mapped
        source = self._packet_source
        if new_offsets and source is not None and source.sender_report is not None:
            # A new source (or a new run after a loss): its last Sender Report, translated
            # with the new offset, replaces the previous mapping now rather than at the
            # source's next report (up to seconds of wrong lip sync otherwise).
            self._on_report(*source.sender_report)
        if self.kind == "video" and self.history.get(seq) is not None:
            return  # a second retransmission from the source: the partner has the first
        sent = RtpPacket(
            payload_type=out.payload_type,
            marker=packet.marker,
            sequence_number=seq,
            timestamp=ts,
            ssrc=out.ssrc,
            payload=packet.payload,
        )
        sent.extensions.mid = out.mid
        sent.extensions.abs_send_time = abs_send_time(time.time())
        sent.extensions.audio_level = packet.extensions.audio_level
        if self.kind == "video":
            self.history.put(seq, sent)
        if await out.send(sent):
            self.packets += 1
            if self.kind == "audio" or packet.marker:
                self.frames += 1

    def _on_report(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        """The source's Sender Report, translated to this stream's timestamps."""
        if self.out is None:
            return
        ts = self.rewriter.timestamp(rtp_timestamp)
        if ts is not None:
            self.out.set_sender_report(ntp_timestamp, ts)

    async def _on_nack(self, seqs: list[int]) -> None:
        """The partner lost ``seqs``: resend what the history has, relay the rest."""
        if self.out is None:
            return
        upstream: list[int] = []
        for seq in seqs:
            packet = self.history.get(seq)
            if packet is not None:
                self.retransmissions += 1
                await self.out.resend(packet)
                continue
            source_seq = self.rewriter.source_seq(seq)
            if source_seq is not None:
                upstream.append(source_seq)
        if upstream and self._packet_source is not None:
            self._packet_source.retransmit_upstream(upstream)

    # --- the pre-screen gate ------------------------------------------------------------

    def hold(self) -> None:
        super().hold()
        if self.kind == "video" and self._held_packets is None:
            self._held_packets = []

    def _hold_packet(self, packet: RtpPacket, keyframe: bool) -> None:
        held = self._held_packets
        assert held is not None
        if keyframe:
            self.dropped += sum(1 for p, _ in held if p.marker)
            self._held_packets = [(packet, keyframe)]
        elif held and len(held) < HOLD_PACKETS:
            held.append((packet, keyframe))
        else:
            self._held_packets = []

    def release(self, keyframe: int | None = None) -> bool:
        """Open the gate; forward the screened keyframe's packets first if still held
        (``keyframe``: its source RTP timestamp), else start at the next keyframe."""
        held, self._held_packets = self._held_packets, None
        if held is None or self._packet_source is None:
            return super().release(keyframe)
        self._held = None
        start = next((i for i, (p, k) in enumerate(held) if k and p.timestamp == keyframe), None)
        if keyframe is None or start is None:
            self._awaiting_keyframe = True
            if self.source is not None:
                self.source.request_keyframe()
            return False
        self._awaiting_keyframe = False
        self._spawn(self._flush([p for p, _ in held[start:]]))
        return True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(work)

    async def _flush(self, packets: list[RtpPacket]) -> None:
        for packet in packets:
            await self._send(packet)

    @property
    def held(self) -> bool:
        return self._held_packets is not None or self._held is not None

    def stop(self) -> None:
        if self._packet_source is not None:
            self._packet_source.unsubscribe_packets(self._on_packet, self._on_report)
            self._packet_source = None
            self.source = None
        super().stop()
