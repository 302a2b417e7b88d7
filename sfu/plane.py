"""The media plane as the rest of Duet sees it: one small async interface.

Two implementations: :class:`sfu.router.Router` runs every peer connection in this process;
:class:`sfu.cluster.SfuCluster` places each visitor on one of several SFU worker processes
and forwards between them through pipes. The lobby talks only to :class:`MediaPlane`, so it
does not care which one it has.

Forwarding is directional: :meth:`MediaPlane.connect` makes one visitor's outbound tracks
carry another visitor's media; a match is two connects. The source may live in another SFU
process or on another node: ``endpoint`` (``"host:port"`` of that process's pipe, from
:meth:`MediaPlane.endpoint` where the source lives) says where to pull it from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sfu.frames import BgrFrame
from sfu.stats import Totals


@dataclass
class PlaneSnapshot:
    """What the media plane reports for metrics (summed over SFU processes)."""

    peers_by_state: Counter[str] = field(default_factory=Counter)
    candidate_types: Counter[str] = field(default_factory=Counter)
    totals: Totals = field(default_factory=Totals)
    processes: list[ProcessLoad] = field(default_factory=list)
    """One entry per SFU worker process (empty when peers run in the signaling process)."""
    pipe_frames: int = 0
    """Frames sent through pipes to other SFU processes (matches that span processes)."""


@dataclass
class ProcessLoad:
    """One SFU worker process's load, as it last reported it."""

    index: int
    pid: int
    peers: int
    cpu_seconds: float
    rss_bytes: int


LostHandler = Callable[[list[str]], None]
"""Called with the visitors whose media was lost at once (an SFU worker process died)."""


class MediaPlane(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def open(self, visitor: str, near: str | None = None) -> str:
        """A new peer connection for ``visitor`` (replacing any): returns the SDP offer.

        Anyone connected to the visitor's media keeps receiving it from the new one.
        ``near``: the visitor it will probably be matched with (the first in line), to be
        placed in the same SFU process if that costs little balance."""
        ...

    async def answer(self, visitor: str, sdp: str) -> None:
        """Apply the browser's answer; raises :class:`sfu.BadSdp`."""
        ...

    async def candidate(self, visitor: str, candidate: dict[str, Any] | None) -> None:
        """Add a trickled candidate (None: end of candidates); raises :class:`sfu.BadSdp`."""
        ...

    async def connect(self, visitor: str, source: str, endpoint: str | None = None) -> None:
        """``visitor``'s outbound tracks carry ``source``'s media from now on."""
        ...

    async def disconnect(self, visitor: str) -> None:
        """``visitor``'s outbound tracks carry nothing."""
        ...

    async def drop(self, visitor: str) -> None:
        """Close ``visitor``'s peer connection (safe if there is none)."""
        ...

    async def tap(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        """One decoded BGR picture of ``visitor``'s own inbound video (see ``sfu.tap``)."""
        ...

    async def screen(
        self, visitor: str, timeout: float, max_side: int
    ) -> tuple[BgrFrame, int | None] | None:
        """The keyframe to pre-screen: a fresh keyframe of ``visitor``'s own inbound video,
        decoded, and its source timestamp (for :meth:`release`)."""
        ...

    async def release(self, visitor: str, source: str, keyframe: int | None = None) -> bool:
        """Open ``visitor``'s held video gate if its outbound video still carries
        ``source``, starting with the screened ``keyframe`` when it is still held. Only a
        plane started with ``prescreen`` holds video (each new source, until released)."""
        ...

    async def clip(self, visitor: str) -> bytes | None:
        """The last seconds of ``visitor``'s own video as a WebM file (evidence clips;
        ``None`` when the plane keeps none or has no video of the visitor)."""
        ...

    def endpoint(self, visitor: str) -> str | None:
        """Where other SFU processes pull ``visitor``'s media from (None: no peer)."""
        ...

    def has_peer(self, visitor: str) -> bool: ...

    def snapshot(self) -> PlaneSnapshot: ...

    def on_lost(self, handler: LostHandler) -> None:
        """Register ``handler`` for visitors whose media was lost at once."""
        ...
