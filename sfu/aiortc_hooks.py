"""Where Duet reaches into aiortc's or aioice's internals: ICE, encoded frames (Hooks 1-8).

aiortc is pinned (``pyproject.toml``) to the minor version these hooks were written for
(1.16, aioice 0.13); ``tests/unit/test_aiortc_hooks.py`` fails loudly if an upgrade moves
any of them. Nothing else in Duet may touch a private attribute of aiortc or aioice: add the
hook here (or, for packet forwarding, in :mod:`sfu.aiortc_rtp_hooks`: Hooks 9 and 10, and
:mod:`sfu.aiortc_fastpath`: Hook 11), with a comment saying what it relies on.
"""

from __future__ import annotations

import asyncio
import queue
import random
import socket
from collections.abc import Callable, Sequence
from typing import Any

import aioice.ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTP_HISTORY_SIZE,
    RtcpPsfbPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

# --- Hook 1: host candidate addresses ---------------------------------------------------
# aioice gathers host candidates on the addresses returned by the module-level function
# ``aioice.ice.get_host_addresses(use_ipv4, use_ipv6)``, called from
# ``Connection.gather_candidates``. It never returns 127.0.0.1, so without this hook two
# peers on one machine talk over its non-loopback addresses. Replacing the function is
# process-wide: every peer connection of the process (SFU and test callers alike) gathers
# on the same addresses.
_ORIGINAL_GET_HOST_ADDRESSES = aioice.ice.get_host_addresses


def set_host_addresses(addresses: Sequence[str]) -> None:
    """Gather ICE host candidates only on ``addresses``; an empty list restores aioice's
    default (every non-loopback interface)."""
    if not addresses:
        aioice.ice.get_host_addresses = _ORIGINAL_GET_HOST_ADDRESSES
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


# --- Hook 7: host candidate ports and announced address -----------------------------------
# aioice binds each host candidate's UDP socket to port 0 and announces the bound address,
# inside ``Connection.get_component_candidates(component, addresses, timeout)``. For a
# server behind 1:1 NAT, or a firewall that opens a port range, we replace that method
# (process-wide, on the class): host sockets are bound within ``port_range`` and announced
# as ``announced_address``, then the original method gathers relay candidates (it is called
# with no addresses, so it binds no host socket and asks no STUN server). With neither
# setting, aioice's own method runs unchanged.
_ORIGINAL_GET_COMPONENT_CANDIDATES = aioice.ice.Connection.get_component_candidates


def set_host_candidates(port_range: tuple[int, int] | None, announced_address: str | None) -> None:
    """Bind host candidates in ``port_range`` and announce them as ``announced_address``
    (either may be ``None``; both ``None`` restores aioice's behaviour)."""
    if port_range is None and not announced_address:
        aioice.ice.Connection.get_component_candidates = _ORIGINAL_GET_COMPONENT_CANDIDATES  # type: ignore[method-assign]
        return

    async def get_component_candidates(
        self: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5
    ) -> list[Candidate]:
        loop = asyncio.get_running_loop()
        candidates: list[Candidate] = []
        for address in addresses:
            bound = await _bind_in_range(loop, self, address, port_range)
            if bound is None:
                continue
            transport, protocol = bound
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE
                )
            host, port = transport.get_extra_info("sockname")[:2]
            shown = announced_address or host
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", shown),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=shown,
                port=port,
                type="host",
            )
            candidates.append(protocol.local_candidate)
            self._protocols.append(protocol)
        candidates += await _ORIGINAL_GET_COMPONENT_CANDIDATES(self, component, [], timeout)
        return candidates

    aioice.ice.Connection.get_component_candidates = get_component_candidates  # type: ignore[method-assign]


async def _bind_in_range(
    loop: asyncio.AbstractEventLoop,
    connection: aioice.ice.Connection,
    address: str,
    port_range: tuple[int, int] | None,
) -> tuple[asyncio.DatagramTransport, Any] | None:
    ports: list[int] = [0]
    if port_range is not None:
        low, high = port_range
        start = random.randint(low, high)
        ports = list(range(start, high + 1)) + list(range(low, start))
    for port in ports:
        try:
            return await loop.create_datagram_endpoint(
                lambda: aioice.ice.StunProtocol(connection), local_addr=(address, port)
            )
        except OSError:
            continue
    return None


# --- Hook 2: encoded frames out of the receiver ------------------------------------------
# ``RTCRtpReceiver._handle_rtp_packet`` (on the event loop) reassembles each frame in its
# jitter buffer and ends with ``self.__decoder_queue.put((codec, JitterFrame))``; the
# ``decoder_worker`` thread started by ``receive()`` takes them with ``get()`` and decodes.
# We replace that queue object before ``receive()`` runs: ``put`` hands the encoded frame
# (VP8 payload descriptor already stripped, timestamp rebased to start at 0) to Duet on the
# event loop, and the decoder thread only ever gets the ``None`` stop sentinel from ``get``
# (it must, or ``stop()`` hangs joining the thread). Nothing is decoded.
#
# --- Hook 5: low-latency audio -------------------------------------------------------------
# The receiver's audio jitter buffer (``__jitter_buffer``) prefetches 4 frames (+80 ms at
# the server). Replacing it with ``JitterBuffer(capacity=16, prefetch=0)`` before any packet
# arrives releases each Opus frame as soon as it is complete.

EncodedFrameHandler = Callable[[RTCRtpCodecParameters, JitterFrame], None]


class _EncodedFrameTap:
    """Stands in for the receiver's decoder queue (``queue.Queue`` duck type)."""

    def __init__(self, on_frame: EncodedFrameHandler) -> None:
        self._on_frame = on_frame
        self._stop: queue.Queue[None] = queue.Queue()

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            self._stop.put(None)
        else:
            self._on_frame(*item)

    def get(self) -> None:
        return self._stop.get()


class ReceiverControl:
    """What the SFU may do to one hooked receiver: request a keyframe, cap its bitrate."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        send_pli: Callable[[int], Any],
        send_rtcp: Callable[[Any], Any],
    ) -> None:
        self._receiver = receiver
        self._send_pli = send_pli
        self._send_rtcp = send_rtcp
        self.plis_sent = 0

    def media_ssrc(self) -> int | None:
        """The SSRC the visitor sends media on (``getSynchronizationSources``, less the
        RTX SSRCs of the receiver's private ``__rtx_ssrc`` map: aiortc's own packet handler
        records an RTX packet's SSRC too, and a PLI naming it is ignored by the source)."""
        rtx: dict[int, int] = self._receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
        sources = [s.source for s in self._receiver.getSynchronizationSources()]
        media = [ssrc for ssrc in sources if ssrc not in rtx]
        return media[-1] if media else None

    async def request_keyframe(self) -> bool:
        """Send a PLI to the visitor; False if its SSRC is not known yet."""
        ssrc = self.media_ssrc()
        if ssrc is None:
            return False
        self.plis_sent += 1
        await self._send_pli(ssrc)
        return True

    async def send_remb(self, bitrate: int) -> bool:
        """Send a REMB to the visitor now (the receiver's RTCP SSRC is private state set
        by ``_set_rtcp_ssrc``); False if either SSRC is not known yet."""
        rtcp_ssrc = self._receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        ssrc = self.media_ssrc()
        if rtcp_ssrc is None or ssrc is None:
            return False
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, [ssrc])
        )
        await self._send_rtcp(packet)
        return True


def hook_receiver(
    receiver: RTCRtpReceiver,
    on_frame: EncodedFrameHandler,
    on_loss: Callable[[], None],
    cap_remb: Callable[[int], int],
    estimate_uplink: bool = True,
) -> ReceiverControl:
    """Take encoded frames out of ``receiver`` (Hook 2, plus Hook 5 for audio).

    ``on_loss`` runs when the receiver itself decides to send a PLI (its jitter buffer
    dropped packets: what follows is undecodable until a keyframe). ``cap_remb`` maps the
    receiver's own bandwidth estimate to the one actually sent to the visitor (Hook 4).
    Without ``estimate_uplink`` the receiver's remote bitrate estimator (``__remote_bitrate_
    estimator``, fed every video packet in Python) is removed: the visitor then follows its
    partner's relayed estimate and its own loss-based control."""
    receiver._RTCRtpReceiver__decoder_queue = _EncodedFrameTap(on_frame)  # type: ignore[attr-defined]
    if not estimate_uplink:
        receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    if receiver._RTCRtpReceiver__kind == "audio":  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=0)  # type: ignore[attr-defined]

    # The receiver calls ``self._send_rtcp_pli(ssrc)`` itself on jitter-buffer loss.
    original_pli = receiver._send_rtcp_pli

    async def send_pli_on_loss(media_ssrc: int) -> None:
        on_loss()
        await original_pli(media_ssrc)

    receiver._send_rtcp_pli = send_pli_on_loss  # type: ignore[method-assign]

    # Hook 4 (receiver half): the receiver sends REMB from its own estimator through
    # ``self._send_rtcp(packet)``; cap it with the partner's estimate.
    original_send_rtcp = receiver._send_rtcp

    async def send_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                pass
            else:
                packet.fci = pack_remb_fci(cap_remb(bitrate), ssrcs)
        await original_send_rtcp(packet)

    receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]
    return ReceiverControl(receiver, original_pli, original_send_rtcp)


# --- Hook 3: keyframe requests at the sender -----------------------------------------------
# A PLI or FIR from the partner reaches ``RTCRtpSender._handle_rtcp_packet``, which calls
# ``self._send_keyframe()``; that only sets a flag read by the encoder, which passthrough
# never runs. We shadow ``_send_keyframe`` on the instance so the request is relayed to the
# source visitor instead.
#
# --- Hook 4 (sender half): bandwidth estimates ------------------------------------------
# A REMB from the partner is parsed in ``_handle_rtcp_packet`` and only sets
# ``encoder.target_bitrate``, which does nothing in passthrough. We look at the packet first
# and hand the estimate to Duet, which forwards it to the source.
#
# Encoded frames *into* the sender need no hook: ``RTCRtpSender._next_encoded_frame``
# passes anything that is not an ``av.Frame`` to ``encoder.pack()``, which only packetises
# (``Vp8Encoder.pack``, ``OpusEncoder.pack``). A track returning ``av.Packet`` with ``pts``
# and ``time_base = 1/clock_rate`` is forwarded without encoding.


def hook_sender(
    sender: RTCRtpSender,
    on_keyframe_request: Callable[[], None],
    on_remb: Callable[[int], None],
) -> None:
    """Relay the partner's keyframe requests and bandwidth estimates (Hooks 3 and 4)."""
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
    original = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                pass
            else:
                if sender._ssrc in ssrcs:
                    on_remb(bitrate)
        await original(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


# --- Hook 6: the selected ICE candidate pair ---------------------------------------------
# aiortc exposes no selected pair. The ICE connection of a bundled peer connection is
# ``transceiver.receiver.transport.transport._connection`` (an ``aioice.Connection``), whose
# ``_nominated`` dict maps component -> ``CandidatePair``.


def selected_remote_candidate_type(pc: RTCPeerConnection) -> str | None:
    """Type of the visitor's side of the selected pair (host, srflx, prflx, relay)."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        if transport is None:
            continue
        connection = transport.transport._connection
        nominated = getattr(connection, "_nominated", {})
        for pair in nominated.values():
            return str(pair.remote_candidate.type)
    return None


# --- Hook 8: a sequence-number gap when the source changes ---------------------------------
# A receiver may hold the last frame it got until a packet of the *next* frame arrives:
# aiortc's ``JitterBuffer`` does exactly that (it emits a frame when a packet with another
# timestamp follows it). When the SFU switches a visitor's outbound track to a new source,
# the previous partner's last frame would then be decoded and shown only once the new
# partner's first packet arrives: a stale frame at the start of the next match. Skipping
# ``SEQUENCE_GAP`` sequence numbers at the first packet after a switch makes such a
# receiver drop what it holds (aiortc: ``delta >= capacity`` -> ``smart_remove``, then a
# PLI); a browser sees a burst of lost packets (more than it would NACK: it asks for a
# keyframe instead) and decodes the new source's keyframe, which needs nothing before it.
#
# ``RTCRtpSender._run_rtp`` keeps its sequence number in a local variable, but stores each
# packet in ``self.__rtp_history`` (a dict) *before* serialising and sending it, and
# ``_retransmit`` reads that dict only with ``.get(seq % RTP_HISTORY_SIZE)`` and compares
# ``packet.sequence_number``. Replacing the dict with :class:`_ShiftingHistory` lets us add
# an offset to each packet's sequence number as it is stored: the packet goes out shifted,
# is kept under its shifted number, and NACKs (which name shifted numbers) still find it.

SEQUENCE_GAP = 1024
"""At least aiortc's video jitter buffer capacity (``RTCRtpReceiver``:
``JitterBuffer(capacity=512)``; audio's is 16): a jump that large empties it. Above
libwebrtc's ``kMaxNackPackets`` (1000), so a browser clears its NACK list and asks for a
keyframe (relayed to the new source, which is sending one anyway) instead of NACKing each
skipped number."""


class _ShiftingHistory(dict[int, Any]):
    """The sender's RTP history; shifts each stored packet's sequence number."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = 0
        self.pending = False
        self.align: int | None = None
        """The sequence number the next packet must have (see ``SequenceGap.continue_at``)."""
        self.last: tuple[int, int] | None = None
        """(sequence number, timestamp) of the last packet stored, as sent."""

    def __setitem__(self, key: int, packet: Any) -> None:
        if self.align is not None:
            self.offset = (self.align - packet.sequence_number) & 0xFFFF
            self.align = None
            self.pending = False
        elif self.pending:
            self.pending = False
            self.offset = (self.offset + SEQUENCE_GAP) & 0xFFFF
        if self.offset:
            packet.sequence_number = (packet.sequence_number + self.offset) & 0xFFFF
            key = packet.sequence_number % RTP_HISTORY_SIZE
        self.last = (packet.sequence_number, packet.timestamp)
        super().__setitem__(key, packet)


class SequenceGap:
    """Skips :data:`SEQUENCE_GAP` sequence numbers before the next packet of one sender."""

    def __init__(self, history: _ShiftingHistory) -> None:
        self._history = history

    def request(self) -> None:
        """The next packet starts a new source: skip sequence numbers before it."""
        self._history.pending = True

    def continue_at(self, seq: int) -> None:
        """The sender's next packet gets sequence number ``seq``: Duet sent packets of its
        own on this sender (packets mode) and the sender's frames continue after them."""
        self._history.align = seq & 0xFFFF

    @property
    def last(self) -> tuple[int, int] | None:
        """(sequence number, timestamp) of the sender's last packet, if it sent one."""
        return self._history.last

    @property
    def offset(self) -> int:
        return self._history.offset


def hook_sequence_gap(sender: RTCRtpSender) -> SequenceGap:
    """Hook 8 on ``sender`` (before it starts sending)."""
    history = _ShiftingHistory()
    history.update(sender._RTCRtpSender__rtp_history)  # type: ignore[attr-defined]
    sender._RTCRtpSender__rtp_history = history  # type: ignore[attr-defined]
    return SequenceGap(history)
