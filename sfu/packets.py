"""The ``packets`` forwarding strategy: RTP packets in, RTP packets out, no frames.

A visitor's receiver hands every decrypted RTP packet to a :class:`PacketFeed`
(``sfu.aiortc_rtp_hooks.hook_receiver_packets``); the partner's :class:`PacketTrack` rewrites
it for its own stream (SSRC, sequence number, timestamp, payload type, header extension
ids: :class:`sfu.rtp_rewrite.StreamRewriter`) and hands it to the partner's transport for
SRTP and sending (``sfu.aiortc_rtp_hooks.PacketSender``). aiortc's jitter buffer,
depacketiser and re-packetiser never run; aiortc still does ICE, DTLS, SRTP and RTCP.
The whole per-packet path is synchronous, without a coroutine or a queue per packet: with
Hook 11 (:mod:`sfu.aiortc_fastpath`) a packet goes from aioice's datagram callback
(unprotect, parse, route) through the feed and the track (rewrite, history) to the
partner's socket (protect, ``sendto``) in one call.

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

This module is the outbound half (:class:`PacketTrack`); the inbound half is
:mod:`sfu.packet_feed` (:class:`PacketFeed`), the evidence clips :mod:`sfu.packet_clip`.
"""

from __future__ import annotations

import time

from aiortc import RTCRtpSender
from aiortc.rtp import RtpPacket

from sfu.aiortc_fastpath import native_active, native_route
from sfu.aiortc_hooks import SEQUENCE_GAP, SequenceGap
from sfu.aiortc_rtp_hooks import (
    PacketSender,
    hook_sender_packets,
)
from sfu.forwarding import FRAME_STEP, Feed
from sfu.packet_feed import PacketFeed
from sfu.passthrough import EncodedTrack
from sfu.rtp_rewrite import (
    PacketHistory,
    StreamRewriter,
    abs_send_time,
)

HISTORY_SIZE = 256
"""Video packets kept per outbound stream to answer NACKs (about 2.5 s at 1 Mbit/s; aiortc's
own sender keeps 128). Audio is not NACKed and keeps none."""
HOLD_PACKETS = 2048
"""Packets a held (not yet screened) video track keeps since the last keyframe start."""
GAP_PLI_WINDOW_S = 1.0
"""After the first keyframe that follows a sequence gap (a switch, a resync), the partner's
first keyframe request within this many seconds is not relayed: its receiver asks because
of the gap, for the keyframe it has just been sent (measured: relaying it made the source
send a second keyframe ≈ 300 ms after the first at every Next)."""


class PacketTrack(EncodedTrack):
    """A visitor's outbound stream of one kind, fed packet by packet by its source."""

    def __init__(self, kind: str, queue_size: int = 16) -> None:
        super().__init__(kind, queue_size)
        self.out: PacketSender | None = None
        self.rewriter = StreamRewriter(FRAME_STEP[kind], compact=kind == "audio")
        size = HISTORY_SIZE if kind == "video" else 1
        self.history: PacketHistory[bytes] = PacketHistory(size)
        """The partner's packets as sent (serialised, before SRTP)."""
        self.packets = 0
        """RTP packets sent on this stream (first transmissions)."""
        self.retransmissions = 0
        """Packets sent again for the partner's NACKs, from the history."""
        self._packet_source: PacketFeed | None = None
        self._discontinuities = 0
        self._resync = False
        """At the next keyframe, skip sequence numbers (an unrecoverable loss upstream)."""
        self._held_packets: list[tuple[RtpPacket, bool]] | None = None
        self.sequence_gap: SequenceGap | None = None
        """Hook 8 on this track's sender: the two numberings (Duet's packets, the sender's
        own packetised frames from a pipe source) continue each other across switches."""
        self._sender_frames = False
        """Whether the current source's frames go through the sender (a pipe source)."""
        self._gap_pending = False
        """A sequence gap was made and its first keyframe not sent yet."""
        self._gap_keyframe_at: float | None = None
        """When the first keyframe after the last gap was sent (until a request is absorbed)."""
        self.gap_requests_absorbed = 0
        """Partner keyframe requests not relayed: the answer to a gap's (see
        ``GAP_PLI_WINDOW_S``)."""

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
        gap = self.sequence_gap
        if isinstance(feed, PacketFeed) and self._sender_frames and gap is not None:
            # The sender packetised a pipe source's frames after Duet's last packet: go on
            # after the sender's last packet, or the partner sees the numbers go back.
            last = gap.last
            if last is not None:
                self.rewriter.continue_after(*last)
        self._sender_frames = feed is not None and not isinstance(feed, PacketFeed)
        if self._sender_frames and gap is not None and self.rewriter.last_seq is not None:
            # The other way: the sender's numbering continues after Duet's packets.
            gap.continue_at(self.rewriter.last_seq + 1 + SEQUENCE_GAP)
        gapped = self.rewriter.last_seq is not None
        self.rewriter.start_source(SEQUENCE_GAP if gapped else 0)
        self._gap_pending = gapped and isinstance(feed, PacketFeed)
        self._gap_keyframe_at = None
        # A NACK for the previous source's packets must not bring them back: resent after
        # the switch, they could complete its last frame in the receiver (a stale frame).
        self.history.clear()
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

    def _on_packet(self, packet: RtpPacket, keyframe: bool) -> None:
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
                    self._gap_pending = True
                self._keyframe_after_gap()
        self._send(packet)

    def _keyframe_after_gap(self) -> None:
        """The first keyframe after a gap goes out now: the partner's receiver will ask
        for one all the same (see ``GAP_PLI_WINDOW_S``)."""
        if self._gap_pending:
            self._gap_pending = False
            self._gap_keyframe_at = time.monotonic()

    def _partner_wants_keyframe(self) -> None:
        sent_at = self._gap_keyframe_at
        if sent_at is not None:
            self._gap_keyframe_at = None
            if time.monotonic() - sent_at <= GAP_PLI_WINDOW_S:
                self.gap_requests_absorbed += 1
                return
        super()._partner_wants_keyframe()

    def _send(self, packet: RtpPacket) -> None:
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
        elif new_offsets:
            # A source with no report yet: the previous source's mapping would be wrong
            # for it; announce the send time of its packets until its first report.
            out.reported = False
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
        data = out.serialize(sent)
        if self.kind == "video":
            self.history.put(seq, data)
        if out.send(sent, data):
            self.packets += 1
            if self.kind == "audio" or packet.marker:
                self.frames += 1
            if new_offsets:
                # The partner's receiver would place the new source with the previous
                # mapping until the sender's next report (up to 1.5 s of wrong lip sync
                # after every Next): announce the new one with its first packet.
                out.announce()
            elif source is not None and native_active():
                self._native(source, packet)

    def _native(self, source: PacketFeed, packet: RtpPacket) -> None:
        """Let C forward the source's next packets of this SSRC (Hook 12), unless it does
        already for this track; it hands back to Python (this path) by itself whenever a
        packet is not the steady case, and after ``ROUTE_LIFETIME_S``."""
        parts = source.native_source()
        if parts is None or parts[0].ingress is None:
            return
        path, receiver = parts
        sink = next((s for s in source.packet_sinks if s == self._on_packet), None)
        if sink is None:
            return
        route = path.ingress.route(packet.ssrc)
        if route is not None and route.track is self and route.until > time.monotonic():
            return
        out = self.out
        assert out is not None and out.payload_type is not None
        native_route(
            path,
            receiver,
            packet,
            out.sender,
            out.extensions,
            video=self.kind == "video",
            feed=source,
            sink=sink,
            loss=source.loss,
            track=self,
            rewriter=self.rewriter,
            history=self.history,
            out=out,
            pt_out=out.payload_type,
            ssrc_out=out.ssrc,
            mid=out.mid,
        )

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
            data = self.history.get(seq)
            if data is not None:
                self.retransmissions += 1
                self.out.resend(RtpPacket.parse(data, self.out.extensions))
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
        self._keyframe_after_gap()
        for packet, _ in held[start:]:
            self._send(packet)
        return True

    @property
    def held(self) -> bool:
        return self._held_packets is not None or self._held is not None

    def stop(self) -> None:
        if self._packet_source is not None:
            self._packet_source.unsubscribe_packets(self._on_packet, self._on_report)
            self._packet_source = None
            self.source = None
        super().stop()
