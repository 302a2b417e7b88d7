"""The SFU of one process: every visitor's :class:`~sfu.peer.Peer` and who hears whom.

Named after mediasoup's Router. It owns its peers (closing the router closes them all) and
its :class:`~sfu.pipe.Pipe` to other SFU processes, and wires forwarding: each visitor's
outbound tracks carry one source's feeds, either a local peer's or a pipe's
:class:`~sfu.pipe.RemoteSource`. Nothing renegotiates. It implements
:class:`~sfu.plane.MediaPlane` for a node that runs its SFU in-process, and is the engine
inside each SFU worker process of :class:`~sfu.cluster.SfuCluster`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from duet.tasks import TaskSet
from sfu.aiortc_fastpath import use_native
from sfu.aiortc_hooks import set_host_addresses, set_host_candidates
from sfu.clip import ClipBuffer, mux_webm
from sfu.forwarding import Feed
from sfu.frames import BgrFrame
from sfu.passthrough import EncodedFeed
from sfu.peer import KINDS, Peer
from sfu.pipe import Pipe, RemoteSource
from sfu.plane import LostHandler, PlaneSnapshot
from sfu.settings import SfuSettings
from sfu.stats import StatsSampler
from sfu.tap import grab, grab_decoded, grab_keyframe

logger = logging.getLogger(__name__)


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port endpoint: {endpoint!r}")
    return host.strip("[]"), int(port)


class Router:
    """Peers of this process, their sources, and the pipe to other SFU processes."""

    def __init__(
        self,
        settings: SfuSettings,
        secret: bytes | Sequence[bytes] = b"",
        prescreen: bool = False,
        clip_s: float = 0.0,
    ) -> None:
        """``prescreen``: a visitor's video to a new listener is held until moderation
        releases it (:meth:`release`); see :meth:`sfu.forwarding.OutboundTrack.hold`.
        ``clip_s``: keep the last this many seconds of each visitor's encoded video for
        evidence clips (:meth:`clip`; 0: none)."""
        self.settings = settings
        use_native(settings.native)
        self.prescreen = prescreen
        self.clip_s = clip_s
        self._screened: dict[str, str] = {}
        """listener -> the source whose video was released to it in the current link."""
        self.peers: dict[str, Peer] = {}
        self.pipe = Pipe(self._local_feeds, secret or b"duet", settings.pipe_chunk_bytes)
        self._sources: dict[str, tuple[str, RemoteSource | None]] = {}
        """visitor -> (source visitor, the pipe source when it is remote)."""
        self._closing = TaskSet()
        self._endpoint: str | None = None
        self.stats = StatsSampler(self.peers, settings.stats_interval_s)
        """Per-visitor media statistics and process totals."""

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Apply process-wide ICE settings and open the pipe socket."""
        set_host_addresses(self.settings.host_addresses)
        set_host_candidates(self.settings.port_range, self.settings.announced_address or None)
        host, port = await self.pipe.start(self.settings.pipe_host, self.settings.pipe_port)
        self._endpoint = f"{self.settings.pipe_announced_address or host}:{port}"
        self.stats.start()

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in list(self.peers.values())))
        await self.pipe.close()
        await self.stats.stop()

    # --- peers (in-process API) -------------------------------------------------------

    def create_peer(self, visitor: str) -> Peer:
        """A new peer connection for ``visitor``; an older one is closed in the background
        and whoever received its media now receives the new one's."""
        old = self.peers.pop(visitor, None)
        peer = Peer(
            visitor,
            self.settings.stun_urls,
            self.settings.forwarding,
            estimate_uplink=self.settings.uplink_estimation,
        )
        self.peers[visitor] = peer
        video = peer.feeds["video"]
        if self.clip_s > 0 and isinstance(video, EncodedFeed):
            video.clip = ClipBuffer(self.clip_s)
        peer.once("closed", lambda: self._forget(visitor, peer))
        if old is not None:
            source = self._sources.get(visitor)
            self._rewire_listeners(visitor)
            if source is not None:
                self._switch(visitor, self._feeds_of(source[0], source[1]))
            self._closing.spawn(old.close())
        return peer

    def link(self, a: str, b: str) -> None:
        """Make local visitors ``a`` and ``b`` see and hear each other."""
        self._connect_local(a, b)
        self._connect_local(b, a)

    def unlink(self, visitor: str) -> None:
        """Stop forwarding to ``visitor`` and, if its source is local, to that source."""
        entry = self._sources.get(visitor)
        self._disconnect(visitor)
        if entry is not None and entry[1] is None:
            other = self._sources.get(entry[0])
            if other is not None and other[0] == visitor:
                self._disconnect(entry[0])

    def source_of(self, visitor: str) -> str | None:
        entry = self._sources.get(visitor)
        return None if entry is None else entry[0]

    async def close_peer(self, visitor: str) -> None:
        peer = self.peers.get(visitor)
        if peer is not None:
            await peer.close()

    # --- MediaPlane -------------------------------------------------------------------

    async def open(self, visitor: str, near: str | None = None) -> str:
        return await self.create_peer(visitor).offer()

    async def answer(self, visitor: str, sdp: str) -> None:
        await self._peer(visitor).accept_answer(sdp)

    async def candidate(self, visitor: str, candidate: dict[str, Any] | None) -> None:
        await self._peer(visitor).add_candidate(candidate)

    async def connect(self, visitor: str, source: str, endpoint: str | None = None) -> None:
        if source in self.peers and endpoint in (None, self._endpoint):
            self._connect_local(visitor, source)
            return
        if endpoint is None:
            raise KeyError(f"{source} is not here and no endpoint was given")
        self._disconnect(visitor)
        if visitor not in self.peers:
            return
        remote = self.pipe.subscribe(source, parse_endpoint(endpoint))
        self._sources[visitor] = (source, remote)
        self._switch(visitor, remote.feeds)

    async def disconnect(self, visitor: str) -> None:
        self._disconnect(visitor)

    async def drop(self, visitor: str) -> None:
        await self.close_peer(visitor)

    async def tap(self, visitor: str, timeout: float = 2.0, max_side: int = 640) -> BgrFrame | None:
        """One decoded BGR frame (longest side <= ``max_side``) of ``visitor``'s own inbound
        video, or ``None`` if the visitor has no live video or none arrives in ``timeout``."""
        peer = self.peers.get(visitor)
        if peer is None or peer.closed:
            return None
        return await grab(peer.feeds["video"], timeout, max_side)

    async def screen(
        self, visitor: str, timeout: float = 2.0, max_side: int = 640
    ) -> tuple[BgrFrame, int | None] | None:
        """The keyframe a listener's gate will forward first if moderation finds it safe:
        its decoded picture and source timestamp (``None`` with transcode forwarding,
        where no encoded frame can be forwarded as is)."""
        peer = self.peers.get(visitor)
        if peer is None or peer.closed:
            return None
        feed = peer.feeds["video"]
        if isinstance(feed, EncodedFeed):
            return await grab_keyframe(feed, timeout, max_side)
        picture = await grab_decoded(feed, timeout, max_side)
        return None if picture is None else (picture, None)

    async def clip(self, visitor: str) -> bytes | None:
        """The last ``clip_s`` seconds of ``visitor``'s own video as WebM (packets muxed
        as received, a keyframe first), or ``None`` without clips or video."""
        peer = self.peers.get(visitor)
        feed = None if peer is None else peer.feeds["video"]
        if not isinstance(feed, EncodedFeed) or feed.clip is None:
            return None
        frames = feed.clip.frames()
        if not frames:
            return None
        return await asyncio.to_thread(mux_webm, frames)

    async def release(self, visitor: str, source: str, keyframe: int | None = None) -> bool:
        """Open ``visitor``'s video gate if it still receives ``source`` (forwarding the
        screened ``keyframe`` first where it is still held). ``False``: stale (the link
        changed since) or nothing was held."""
        entry = self._sources.get(visitor)
        peer = self.peers.get(visitor)
        if entry is None or entry[0] != source or peer is None:
            return False
        self._screened[visitor] = source
        track = peer.outbound["video"]
        if not track.held:
            return False
        track.release(keyframe)
        return True

    def endpoint(self, visitor: str) -> str | None:
        return self._endpoint if visitor in self.peers else None

    @property
    def endpoint_address(self) -> str | None:
        """This process's pipe endpoint (``host:port``), once started."""
        return self._endpoint

    def has_peer(self, visitor: str) -> bool:
        return visitor in self.peers

    def snapshot(self) -> PlaneSnapshot:
        return PlaneSnapshot(
            peers_by_state=Counter(str(p.connection_state) for p in self.peers.values()),
            candidate_types=self.stats.candidate_types(),
            totals=self.stats.totals(),
            pipe_frames=self.pipe.counters.frames_sent,
        )

    def on_lost(self, handler: LostHandler) -> None:
        """Peers of an in-process router are never lost all at once: nothing to report."""

    # --- internals --------------------------------------------------------------------

    def _peer(self, visitor: str) -> Peer:
        peer = self.peers.get(visitor)
        if peer is None:
            raise KeyError(f"no peer connection for {visitor}")
        return peer

    def _local_feeds(self, visitor: str) -> dict[str, Feed] | None:
        peer = self.peers.get(visitor)
        return None if peer is None or peer.closed else peer.feeds

    def _feeds_of(self, source: str, remote: RemoteSource | None) -> dict[str, Any] | None:
        if remote is not None:
            return dict(remote.feeds)
        peer = self.peers.get(source)
        return None if peer is None else dict(peer.feeds)

    def _connect_local(self, visitor: str, source: str) -> None:
        self._disconnect(visitor)
        if visitor not in self.peers or source not in self.peers:
            return
        self._sources[visitor] = (source, None)
        self._switch(visitor, self.peers[source].feeds)

    def _switch(self, visitor: str, feeds: dict[str, Any] | None) -> None:
        peer = self.peers.get(visitor)
        if peer is None:
            return
        entry = self._sources.get(visitor)
        video = peer.outbound["video"]
        if (
            self.prescreen
            and feeds is not None
            and entry is not None
            and self._screened.get(visitor) != entry[0]
        ):
            video.hold()  # before the switch: no frame of an unscreened source slips out
        for kind in KINDS:
            peer.outbound[kind].switch(None if feeds is None else feeds.get(kind))

    def _disconnect(self, visitor: str) -> None:
        entry = self._sources.pop(visitor, None)
        self._screened.pop(visitor, None)
        self._switch(visitor, None)
        if entry is not None and entry[1] is not None:
            self._closing.spawn(entry[1].close())

    def _rewire_listeners(self, visitor: str) -> None:
        """``visitor`` has a new peer: local listeners and pipe subscribers follow it."""
        for listener, (source, remote) in list(self._sources.items()):
            if source == visitor and remote is None:
                self._switch(listener, self.peers[visitor].feeds)
        self.pipe.rebind(visitor)

    def _forget(self, visitor: str, peer: Peer) -> None:
        if peer.final_counters is not None:
            self.stats.retire(visitor, peer.final_counters)
        if self.peers.get(visitor) is not peer:
            return
        del self.peers[visitor]
        self._disconnect(visitor)
        for listener, (source, remote) in list(self._sources.items()):
            if source == visitor and remote is None:
                with contextlib.suppress(KeyError):
                    self._disconnect(listener)
        self.pipe.rebind(visitor)
