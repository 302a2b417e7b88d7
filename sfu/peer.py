"""One visitor's peer connection to the SFU, kept for the whole visit.

The server always makes the offer (VP8 + Opus only, audio and video both send and receive),
so there is no glare and both legs of every call use the same codecs. A :class:`Peer` owns
its ``RTCPeerConnection``, one :class:`~sfu.forwarding.Feed` per inbound kind and one
:class:`~sfu.forwarding.OutboundTrack` per outbound kind; :meth:`Peer.close` closes them all.

Events (pyee, like aiortc's own objects): ``"track"`` (kind) when inbound media arrives,
``"connection"`` (state) on every connection state change, ``"closed"`` once.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp
from pyee.asyncio import AsyncIOEventEmitter

from sfu.aiortc_hooks import hook_sequence_gap
from sfu.forwarding import Feed, OutboundTrack
from sfu.ice_grammar import check_candidate
from sfu.packet_feed import PacketFeed
from sfu.packets import PacketTrack
from sfu.passthrough import EncodedFeed, EncodedTrack
from sfu.stats import Counters, collect
from sfu.transcode import DecodedFeed, DecodedTrack

logger = logging.getLogger(__name__)

KINDS = ("audio", "video")
_CODECS = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


class BadSdp(ValueError):
    """The browser sent an answer or candidate the SFU cannot use."""


class Peer(AsyncIOEventEmitter):
    """The SFU's side of one visitor's RTCPeerConnection."""

    def __init__(
        self,
        visitor: str,
        stun_urls: list[str],
        forwarding: str = "passthrough",
        estimate_uplink: bool = False,
    ) -> None:
        super().__init__()
        self.visitor = visitor
        self.forwarding = forwarding
        # iceServers must be explicit: with None aiortc adds a public STUN server.
        servers = [RTCIceServer(urls=url) for url in stun_urls]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.feeds: dict[str, Feed] = {}
        self.outbound: dict[str, OutboundTrack[Any]] = {}
        self.closed = False
        self.final_counters: Counters | None = None
        """Counters read just before closing (kept in the router's totals)."""
        self._answered = False
        for kind in KINDS:
            track: OutboundTrack[Any]
            if forwarding == "packets":
                feed: Feed = PacketFeed(kind, visitor)
                track = PacketTrack(kind)
            elif forwarding == "passthrough":
                feed = EncodedFeed(kind, visitor)
                track = EncodedTrack(kind)
            else:
                feed, track = DecodedFeed(kind, visitor), DecodedTrack(kind)
            transceiver = self.pc.addTransceiver(track, direction="sendrecv")
            capabilities = RTCRtpSender.getCapabilities(kind)
            transceiver.setCodecPreferences(
                [c for c in capabilities.codecs if c.mimeType in _CODECS[kind]]
            )
            gap = hook_sequence_gap(transceiver.sender)
            track.new_source_hook = gap.request
            if isinstance(track, PacketTrack):
                track.sequence_gap = gap
            if isinstance(feed, EncodedFeed) and isinstance(track, EncodedTrack):
                # PacketFeed/PacketTrack override hook() with their packet hooks.
                feed.hook(transceiver.receiver, estimate_uplink=estimate_uplink)
                track.hook(transceiver.sender)
            self.feeds[kind], self.outbound[kind] = feed, track
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    async def offer(self) -> str:
        """Create the server's offer (gathering local candidates) and return its SDP."""
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        """Apply the browser's answer. Raises :class:`BadSdp` if it is unusable."""
        if self._answered:
            raise BadSdp("this offer was already answered")
        if self.pc.signalingState != "have-local-offer":
            raise BadSdp("no offer is waiting for an answer")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises ValueError, KeyError, ... on bad SDP
            raise BadSdp(f"the answer was refused: {exc}"[:200]) from None
        self._answered = True

    async def add_candidate(self, candidate: dict[str, Any] | None) -> None:
        """Add one trickled remote candidate; ``None`` or an empty one ends the list."""
        if candidate is None or not candidate.get("candidate"):
            if self._answered:
                await self.pc.addIceCandidate(None)
            return
        try:
            ice = candidate_from_sdp(check_candidate(str(candidate["candidate"])))
        except (ValueError, IndexError) as exc:
            raise BadSdp(f"unreadable ICE candidate: {exc}"[:200]) from None
        ice.sdpMid = candidate.get("sdpMid")
        ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
        if ice.sdpMid is None and ice.sdpMLineIndex is None:
            ice.sdpMLineIndex = 0
        if not self._answered:
            raise BadSdp("candidates must follow the answer")
        await self.pc.addIceCandidate(ice)

    def _on_track(self, track: Any) -> None:
        feed = self.feeds.get(track.kind)
        if isinstance(feed, DecodedFeed):
            feed.attach(track)
        if feed is not None:
            self.emit("track", track.kind)

    async def _on_state(self) -> None:
        state = self.connection_state
        logger.debug("peer %s connection %s", self.visitor, state)
        self.emit("connection", state)

    async def close(self) -> None:
        """Close the connection and everything it owns. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.final_counters = await collect(self)
        for track in self.outbound.values():
            track.switch(None)
            track.stop()
        for feed in self.feeds.values():
            await feed.close()
        with contextlib.suppress(Exception):
            await self.pc.close()
        self.emit("closed")
        self.remove_all_listeners()
