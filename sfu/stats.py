"""Per-visitor media statistics, sampled periodically from aiortc and Duet's own counters.

:class:`StatsSampler` reads every peer's ``getStats()`` (public aiortc API: transport bytes
and packets, RTP packets and bytes sent per kind) plus the forwarding counters of its
feeds and outbound tracks, and derives rates (bit/s, frames/s) from two successive samples.
``totals()`` sums cumulative counters over live peers and the final counters of closed ones,
so exported totals only ever increase. Sampling runs on the event loop every ``interval``
seconds; it does no I/O and costs a few microseconds per peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfu.aiortc_hooks import selected_remote_candidate_type
from sfu.packet_feed import PacketFeed
from sfu.packets import PacketTrack
from sfu.passthrough import EncodedFeed, EncodedTrack

if TYPE_CHECKING:
    from sfu.peer import Peer

logger = logging.getLogger(__name__)

KINDS = ("audio", "video")


def _per_kind() -> dict[str, int]:
    return dict.fromkeys(KINDS, 0)


@dataclass
class Counters:
    """Cumulative counters of one peer (they only grow while the peer lives)."""

    bytes_in: int = 0
    bytes_out: int = 0
    packets_sent: dict[str, int] = field(default_factory=_per_kind)
    """RTP packets sent to the visitor, by kind."""
    bytes_sent: dict[str, int] = field(default_factory=_per_kind)
    """RTP payload bytes sent to the visitor, by kind."""
    packets_received: dict[str, int] = field(default_factory=_per_kind)
    frames_in: dict[str, int] = field(default_factory=_per_kind)
    """Frames received from the visitor (encoded or decoded, by forwarding)."""
    frames_out: dict[str, int] = field(default_factory=_per_kind)
    """Frames handed to the visitor's senders."""
    keyframes_in: int = 0
    keyframe_requests_sent: int = 0
    """PLIs the SFU sent to this visitor (for partners, after drops, for the tap)."""
    keyframe_requests_relayed: int = 0
    """PLIs/FIRs from this visitor relayed to its partner."""
    keyframe_requests_absorbed: int = 0
    """PLIs/FIRs from this visitor not relayed: each asked, because of a switch's sequence
    gap, for the keyframe that had just started the new partner's stream
    (``sfu.packets.GAP_PLI_WINDOW_S``)."""
    drops: int = 0
    """Frames not forwarded to this visitor (queue overflow, waiting for a keyframe)."""
    fast_packets: int = 0
    """RTP packets from this visitor handled on the packets mode's fast path (Hook 11)."""
    native_packets: int = 0
    """Of those, the packets forwarded in C (Hook 12, ``sfu._native``)."""


@dataclass
class PeerStats:
    """The latest sample of one visitor's media."""

    visitor: str
    counters: Counters
    candidate_type: str | None = None
    """The visitor's side of the selected ICE pair: host, srflx, prflx or relay."""
    bitrate_in: float = 0.0
    """Bits per second received from the visitor over the last interval."""
    bitrate_out: float = 0.0
    fps_in: float = 0.0
    """Video frames per second received from the visitor over the last interval."""
    fps_out: float = 0.0
    sampled_at: float = 0.0


async def collect(peer: Peer) -> Counters:
    """Read a peer's cumulative counters now."""
    counters = Counters()
    report = await peer.pc.getStats()
    for stats in report.values():
        if stats.type == "transport":
            counters.bytes_in += stats.bytesReceived
            counters.bytes_out += stats.bytesSent
        elif stats.type == "outbound-rtp" and stats.kind in KINDS:
            counters.packets_sent[stats.kind] += stats.packetsSent
            counters.bytes_sent[stats.kind] += stats.bytesSent
        elif stats.type == "inbound-rtp" and stats.kind in KINDS:
            counters.packets_received[stats.kind] += stats.packetsReceived
    for kind, feed in peer.feeds.items():
        counters.frames_in[kind] = feed.frames
        counters.keyframes_in += feed.keyframes
        if isinstance(feed, EncodedFeed):
            counters.keyframe_requests_sent += feed.keyframe_requests
        if isinstance(feed, PacketFeed):
            # Counted per transport: the feeds of one bundled visitor share it.
            counters.fast_packets = max(counters.fast_packets, feed.fast_packets)
            counters.native_packets = max(counters.native_packets, feed.native_packets)
    for kind, track in peer.outbound.items():
        counters.frames_out[kind] = track.frames
        counters.drops += track.dropped
        if isinstance(track, EncodedTrack):
            counters.keyframe_requests_relayed += track.keyframe_requests
        if isinstance(track, PacketTrack):
            counters.keyframe_requests_absorbed += track.gap_requests_absorbed
    return counters


@dataclass
class Totals:
    """Process totals since start (live peers plus closed ones)."""

    packets_sent: dict[str, int] = field(default_factory=_per_kind)
    bytes_sent: dict[str, int] = field(default_factory=_per_kind)
    bytes_in: int = 0
    bytes_out: int = 0
    keyframe_requests: int = 0
    """PLIs sent to visitors by the SFU (relayed, after drops, for the tap)."""
    keyframe_requests_absorbed: int = 0
    """Visitors' keyframe requests not relayed (see ``Counters.keyframe_requests_absorbed``)."""
    drops: int = 0
    fast_packets: int = 0
    """RTP packets handled on the packets mode's fast path (Hook 11)."""
    native_packets: int = 0
    """Of those, the packets forwarded in C (Hook 12)."""

    def add_totals(self, other: Totals) -> None:
        for kind in KINDS:
            self.packets_sent[kind] += other.packets_sent[kind]
            self.bytes_sent[kind] += other.bytes_sent[kind]
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.keyframe_requests += other.keyframe_requests
        self.keyframe_requests_absorbed += other.keyframe_requests_absorbed
        self.drops += other.drops
        self.fast_packets += other.fast_packets
        self.native_packets += other.native_packets

    def add(self, counters: Counters) -> None:
        for kind in KINDS:
            self.packets_sent[kind] += counters.packets_sent[kind]
            self.bytes_sent[kind] += counters.bytes_sent[kind]
        self.bytes_in += counters.bytes_in
        self.bytes_out += counters.bytes_out
        self.keyframe_requests += counters.keyframe_requests_sent
        self.keyframe_requests_absorbed += counters.keyframe_requests_absorbed
        self.drops += counters.drops
        self.fast_packets += counters.fast_packets
        self.native_packets += counters.native_packets


class StatsSampler:
    """Samples the peers of one router every ``interval`` seconds."""

    def __init__(self, peers: dict[str, Peer], interval: float = 2.0) -> None:
        self._peers = peers
        self.interval = interval
        self.peers: dict[str, PeerStats] = {}
        """Latest sample per live visitor."""
        self._retired = Totals()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def retire(self, visitor: str, final: Counters) -> None:
        """A peer closed: keep its final counters in the totals."""
        self._retired.add(final)
        self.peers.pop(visitor, None)

    def totals(self) -> Totals:
        total = copy.deepcopy(self._retired)
        for stats in self.peers.values():
            total.add(stats.counters)
        return total

    def candidate_types(self) -> Counter[str]:
        """Live visitors by selected candidate type (``unknown`` until connected)."""
        return Counter(s.candidate_type or "unknown" for s in self.peers.values())

    async def sample(self) -> None:
        """Take one sample of every live peer."""
        now = time.monotonic()
        for visitor, peer in list(self._peers.items()):
            if peer.closed:
                continue
            counters = await collect(peer)
            previous = self.peers.get(visitor)
            stats = PeerStats(visitor, counters, sampled_at=now)
            stats.candidate_type = selected_remote_candidate_type(peer.pc)
            if previous is not None and now > previous.sampled_at:
                elapsed = now - previous.sampled_at
                old = previous.counters
                stats.bitrate_in = 8 * (counters.bytes_in - old.bytes_in) / elapsed
                stats.bitrate_out = 8 * (counters.bytes_out - old.bytes_out) / elapsed
                stats.fps_in = (counters.frames_in["video"] - old.frames_in["video"]) / elapsed
                stats.fps_out = (counters.frames_out["video"] - old.frames_out["video"]) / elapsed
            self.peers[visitor] = stats
        for visitor in [v for v in self.peers if v not in self._peers]:
            del self.peers[visitor]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sample()
            except Exception:
                logger.exception("stats sampling failed")
