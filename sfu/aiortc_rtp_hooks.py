"""aiortc's internals for packet forwarding (``forwarding = "packets"``): Hooks 9 and 10.

RTP packets are taken out of the receiver before its jitter buffer (Hook 9) and sent on a
sender's DTLS transport with its negotiated parameters (Hook 10). The hooks that every
forwarding mode uses (ICE, encoded frames, keyframe requests, the sequence gap) live in
:mod:`sfu.aiortc_hooks`; the two modules together are every place where Duet reaches into
aiortc's or aioice's internals, pinned to aiortc 1.16 / aioice 0.13 and checked by
``tests/unit/test_aiortc_hooks.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender, clock
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
    wrap_rtx,
)

from duet.tasks import TaskSet
from sfu.aiortc_fastpath import FastPath, install_fast_path, send_rtp_now
from sfu.aiortc_hooks import ReceiverControl, hook_sender

# --- Hook 9: RTP packets out of the receiver (``forwarding = "packets"``) -----------------
# ``RTCDtlsTransport._handle_rtp_data`` unprotects and parses each packet (header
# extensions by the negotiated ids) and calls ``receiver._handle_rtp_packet(packet,
# arrival_time_ms=...)`` on the receiver it routed the packet to. We shadow that method on
# the instance with a slim one that keeps what the rest of aiortc relies on, in the
# original's order: the ``_enabled`` check, the remote bitrate estimator (when kept), the
# codec lookup in ``__codecs``, the ``__remote_streams`` statistics (receiver reports and
# ``getStats``), RTX unwrapping (``__rtx_ssrc``), and ``__active_ssrc`` (behind
# ``getSynchronizationSources``; only media SSRCs, see below). Then it hands the packet to
# Duet instead of NACK generation, the jitter buffer, depacketisation and the decoder
# queue, none of which run. The slim handler is synchronous (the coroutine aiortc awaits
# only wraps it), so that Hook 11 (``sfu.aiortc_fastpath``) can call it from the datagram
# callback; the estimator's REMB, the one step that awaits, is sent as a task. Sender
# Reports reach ``receiver._handle_rtcp_packet``; we look at them first (for lip sync) and
# let it go on.

PacketHandler = Callable[[RtpPacket, RTCRtpCodecParameters], None]
"""Called with each RTP packet of a hooked receiver and its codec; synchronous."""
SenderReportHandler = Callable[[int, int, int], None]
"""Called with (ssrc, NTP timestamp, RTP timestamp) of each Sender Report from a source."""


class PacketReceiverControl(ReceiverControl):
    """A hooked packet receiver: keyframe requests, REMB, and NACKs to the source."""

    fast_path: FastPath | None = None
    """Hook 11 on the receiver's transport, once installed (the first packet received)."""

    @property
    def receiver(self) -> RTCRtpReceiver:
        return self._receiver

    async def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        """Ask the source to retransmit ``lost`` (its own sequence numbers)."""
        await self._receiver._send_rtcp_nack(media_ssrc, lost)


def hook_receiver_packets(
    receiver: RTCRtpReceiver,
    on_packet: PacketHandler,
    on_sender_report: SenderReportHandler,
    estimate_uplink: bool = False,
    fast_path: bool = True,
) -> PacketReceiverControl:
    """Take every RTP packet of ``receiver`` (Hook 9); nothing is reassembled or decoded.

    ``on_packet`` gets the parsed packet (RTX already unwrapped to the original SSRC,
    sequence number and payload type) and its codec, on the event loop, synchronously.
    With ``fast_path`` the first packet that reaches the receiver on a connected transport
    installs Hook 11 (:func:`sfu.aiortc_fastpath.install_fast_path`): the following ones
    come straight from the datagram callback, without aiortc's queue and coroutines."""
    r: Any = receiver
    if not estimate_uplink:
        r._RTCRtpReceiver__remote_bitrate_estimator = None
    codecs: dict[int, RTCRtpCodecParameters] = r._RTCRtpReceiver__codecs
    remote_streams: dict[int, StreamStatistics] = r._RTCRtpReceiver__remote_streams
    rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
    active_ssrc: dict[int, Any] = r._RTCRtpReceiver__active_ssrc
    seen: dict[int, float] = {}
    tasks: set[asyncio.Task[None]] = set()

    def handle(packet: RtpPacket, arrival_time_ms: int | None) -> None:
        if not receiver._enabled:
            return
        if r._RTCRtpReceiver__remote_bitrate_estimator is not None:
            # The original's first step (REMB from the estimator); its RTCP is sent later.
            arrival = clock.current_ms() if arrival_time_ms is None else arrival_time_ms
            remb = _estimate_only(receiver, packet, arrival)
            if remb is not None:
                task = asyncio.ensure_future(receiver._send_rtcp(remb))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stream = remote_streams.get(packet.ssrc)
        if stream is None:
            stream = remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stream.add(packet)
        if is_rtx(codec):
            original_ssrc = rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (
                original_ssrc is None
                or len(packet.payload) < 2
                or not isinstance(apt, int)
                or apt not in codecs
            ):
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = codecs[apt]
        # Unlike the original, only media SSRCs are recorded (after RTX unwrapping):
        # ``ReceiverControl.media_ssrc`` takes the last one as the target of PLIs, and a PLI
        # naming the RTX SSRC is ignored by the source. Sources count as active for 10 s:
        # refreshing the time once a second is enough (a datetime per packet is not free).
        now = time.monotonic()
        if now - seen.get(packet.ssrc, -2.0) >= 1.0:
            seen[packet.ssrc] = now
            active_ssrc[packet.ssrc] = clock.current_datetime()
        on_packet(packet, codec)

    control = PacketReceiverControl(receiver, receiver._send_rtcp_pli, receiver._send_rtcp)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if fast_path and control.fast_path is None:
            control.fast_path = install_fast_path(receiver, handle)
        handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]

    original_rtcp = receiver._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            on_sender_report(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp)
        await original_rtcp(packet)

    receiver._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
    return control


def _estimate_only(
    receiver: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int
) -> RtcpPsfbPacket | None:
    """The original handler's first step: feed the remote bitrate estimator (kept only
    with ``sfu.uplink_estimation``); returns the REMB to send, if any."""
    r: Any = receiver
    estimator = r._RTCRtpReceiver__remote_bitrate_estimator
    if packet.extensions.abs_send_time is None:
        return None
    remb = estimator.add(
        abs_send_time=packet.extensions.abs_send_time,
        arrival_time_ms=arrival_time_ms,
        payload_size=len(packet.payload) + packet.padding_size,
        ssrc=packet.ssrc,
    )
    rtcp_ssrc = r._RTCRtpReceiver__rtcp_ssrc
    if rtcp_ssrc is None or remb is None:
        return None
    return RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb))


# --- Hook 10: RTP packets into the sender's transport (``forwarding = "packets"``) ---------
# ``RTCRtpSender.send(parameters)`` is where the sender learns its negotiated codecs (the
# first is the one it sends), RTX payload type, MID and header extension ids; we wrap it on
# the instance to read the same parameters. Packets are then serialised with those ids and
# given to the DTLS transport as the sender's own ``_run_rtp`` does with
# ``sender.transport._send_rtp(bytes)`` (SRTP protect, then the ICE connection), but
# synchronously (Hook 11's ``send_rtp_now``, same steps); its ``_run_rtp`` meanwhile
# waits on a track that yields nothing. The sender's RTCP loop (``_run_rtcp``) keeps
# sending Sender Reports from ``__ntp_timestamp``, ``__rtp_timestamp``, ``__packet_count``
# and ``__octet_count``, which we set (``getStats`` reads the counts too). A NACK reaches
# ``_handle_rtcp_packet`` (Hook 3's wrapper), which hands its lost sequence numbers to
# Duet before aiortc looks them up in its own history (which holds only what ``_run_rtp``
# sent).


class PacketSender:
    """Sends Duet's packets on one hooked sender as if the sender had made them."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        self.payload_type: int | None = None
        """Payload type of the negotiated codec (None until the answer is applied)."""
        self.rtx_payload_type: int | None = None
        self.mid: str | None = None
        self.extensions = HeaderExtensionsMap()
        self._rtx_seq = random.randrange(1 << 16)
        self._reports = TaskSet()
        self.reported = False
        """Whether the Sender Reports carry a source's translated mapping; until then each
        packet sent maps its timestamp to the time it is sent (as aiortc's sender does)."""

    @property
    def ready(self) -> bool:
        return self.payload_type is not None

    def configure(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        self.payload_type = codec.payloadType
        self.mid = parameters.muxId
        self.extensions.configure(parameters)
        for other in parameters.codecs:
            if is_rtx(other) and other.parameters.get("apt") == codec.payloadType:
                self.rtx_payload_type = other.payloadType

    @property
    def sender(self) -> RTCRtpSender:
        return self._sender

    def send(self, packet: RtpPacket, data: bytes | None = None) -> bool:
        """Protect and send ``packet`` now (``data``: it serialised already); False if the
        transport is not connected."""
        if data is None:
            data = self.serialize(packet)
        if not send_rtp_now(self._sender.transport, data):
            return False
        s: Any = self._sender
        s._RTCRtpSender__packet_count += 1
        s._RTCRtpSender__octet_count += len(packet.payload)
        if not self.reported:
            s._RTCRtpSender__ntp_timestamp = clock.current_ntp_time()
            s._RTCRtpSender__rtp_timestamp = packet.timestamp
        return True

    def resend(self, packet: RtpPacket) -> bool:
        """Retransmit a packet already sent: as RTX when negotiated (RFC 4588)."""
        if self.rtx_payload_type is not None:
            packet = wrap_rtx(
                packet,
                payload_type=self.rtx_payload_type,
                sequence_number=self._rtx_seq,
                ssrc=self.rtx_ssrc,
            )
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        return send_rtp_now(self._sender.transport, self.serialize(packet))

    def serialize(self, packet: RtpPacket) -> bytes:
        """``packet`` as bytes, with this sender's negotiated header extension ids."""
        return packet.serialize(self.extensions)

    def announce(self) -> None:
        """Send a Sender Report with the current mapping as soon as the loop can
        (:meth:`send_report` in a task: the packet path is synchronous)."""
        self._reports.spawn(self.send_report())

    async def send_report(self) -> None:
        """Send a Sender Report now with the current mapping, as the sender's own RTCP loop
        (``_run_rtcp``) does at its intervals (0.5-1.5 s), including what it records for
        round-trip times (``__lsr``, ``__lsr_time``) and its SDES CNAME."""
        s: Any = self._sender
        ntp = s._RTCRtpSender__ntp_timestamp
        packets: list[Any] = [
            RtcpSrPacket(
                ssrc=self.ssrc,
                sender_info=RtcpSenderInfo(
                    ntp_timestamp=ntp,
                    rtp_timestamp=s._RTCRtpSender__rtp_timestamp,
                    packet_count=s._RTCRtpSender__packet_count & 0xFFFFFFFF,
                    octet_count=s._RTCRtpSender__octet_count & 0xFFFFFFFF,
                ),
            )
        ]
        s._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
        s._RTCRtpSender__lsr_time = time.time()
        cname = s._RTCRtpSender__cname
        if cname is not None:
            packets.append(
                RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, cname.encode())])])
            )
        with contextlib.suppress(ConnectionError):
            await self._sender._send_rtcp(packets)

    def set_sender_report(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        """The NTP <-> RTP mapping the next Sender Reports announce (a source's, translated)."""
        self.reported = True
        s: Any = self._sender
        s._RTCRtpSender__ntp_timestamp = ntp_timestamp
        s._RTCRtpSender__rtp_timestamp = rtp_timestamp


def hook_sender_packets(
    sender: RTCRtpSender,
    on_keyframe_request: Callable[[], None],
    on_remb: Callable[[int], None],
    on_nack: Callable[[list[int]], Awaitable[None]],
) -> PacketSender:
    """Hooks 3 and 4, plus Hook 10: Duet sends on ``sender`` and answers its NACKs."""
    hook_sender(sender, on_keyframe_request, on_remb)
    out = PacketSender(sender)
    original_send = sender.send

    async def send(parameters: RTCRtpSendParameters) -> None:
        out.configure(parameters)
        await original_send(parameters)

    sender.send = send  # type: ignore[method-assign]
    handle = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if (
            isinstance(packet, RtcpRtpfbPacket)
            and packet.fmt == RTCP_RTPFB_NACK
            and packet.media_ssrc == out.ssrc
        ):
            await on_nack(list(packet.lost))
        await handle(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
    return out
