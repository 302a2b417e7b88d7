"""The SFU of one process: every visitor's :class:`~sfu.peer.Peer` and who hears whom.

Named after mediasoup's Router. It owns its peers (closing the router closes them all) and
wires forwarding: :meth:`Router.link` points each visitor's outbound tracks at the other's
inbound feeds, :meth:`Router.unlink` points them at nothing. Neither renegotiates.
"""

from __future__ import annotations

import asyncio
import logging

from sfu.aiortc_hooks import set_host_addresses, set_host_candidates
from sfu.peer import KINDS, Peer
from sfu.settings import SfuSettings
from sfu.stats import StatsSampler
from sfu.tap import BgrFrame, grab

logger = logging.getLogger(__name__)


class Router:
    """Peers of this process, and the current partner of each."""

    def __init__(self, settings: SfuSettings) -> None:
        self.settings = settings
        self.peers: dict[str, Peer] = {}
        self._partner: dict[str, str] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.stats = StatsSampler(self.peers, settings.stats_interval_s)
        """Per-visitor media statistics and process totals."""

    def start(self) -> None:
        """Apply process-wide ICE settings (host candidate addresses)."""
        set_host_addresses(self.settings.host_addresses)
        set_host_candidates(self.settings.port_range, self.settings.announced_address or None)
        self.stats.start()

    def create_peer(self, visitor: str) -> Peer:
        """A new peer connection for ``visitor`` (an older one is closed in the background)."""
        old = self.peers.pop(visitor, None)
        if old is not None:
            self.unlink(visitor)
            task = asyncio.ensure_future(old.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        peer = Peer(visitor, self.settings.stun_urls, self.settings.forwarding)
        self.peers[visitor] = peer
        peer.once("closed", lambda: self._forget(visitor, peer))
        return peer

    def link(self, a: str, b: str) -> None:
        """Make ``a`` and ``b`` see and hear each other (both must have peers)."""
        self.unlink(a)
        self.unlink(b)
        peer_a, peer_b = self.peers[a], self.peers[b]
        for kind in KINDS:
            peer_a.outbound[kind].switch(peer_b.feeds[kind])
            peer_b.outbound[kind].switch(peer_a.feeds[kind])
        self._partner[a], self._partner[b] = b, a

    def unlink(self, visitor: str) -> None:
        """Stop forwarding between ``visitor`` and its partner, in both directions."""
        partner = self._partner.pop(visitor, None)
        for who in (visitor, partner):
            if who is None:
                continue
            peer = self.peers.get(who)
            if peer is not None:
                for track in peer.outbound.values():
                    track.switch(None)
        if partner is not None:
            self._partner.pop(partner, None)

    def partner_of(self, visitor: str) -> str | None:
        return self._partner.get(visitor)

    async def tap(self, visitor: str, timeout: float = 2.0, max_side: int = 640) -> BgrFrame | None:
        """One decoded BGR frame (longest side <= ``max_side``) of ``visitor``'s own inbound
        video, or ``None`` if the visitor has no live video or none arrives in ``timeout``."""
        peer = self.peers.get(visitor)
        if peer is None or peer.closed:
            return None
        return await grab(peer.feeds["video"], timeout, max_side)

    async def close_peer(self, visitor: str) -> None:
        peer = self.peers.get(visitor)
        if peer is not None:
            await peer.close()

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in list(self.peers.values())))
        await self.stats.stop()

    def _forget(self, visitor: str, peer: Peer) -> None:
        if peer.final_counters is not None:
            self.stats.retire(visitor, peer.final_counters)
        if self.peers.get(visitor) is peer:
            self.unlink(visitor)
            del self.peers[visitor]
