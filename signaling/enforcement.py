"""Adapters that give moderation what it asks for, built by the composition root.

* :class:`TapFrameSource`: moderation's frame source is the SFU's tap of a visitor's own
  inbound video.
* :class:`LobbyEnforcer`: a recorded ban removes the visitor through the lobby (media
  stopped, ``banned`` with its appeal token sent, socket closed, partner re-queued).

Moderation defines the ports; signaling, which depends on both sides, fills them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from moderation.classifiers import BgrFrame
from moderation.records import BanRecord
from sfu.plane import MediaPlane
from signaling.appeals import BannedEvents
from signaling.lobby import Lobby


class TapFrameSource:
    def __init__(self, media: MediaPlane) -> None:
        self.media = media

    async def grab(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        return await self.media.tap(visitor, timeout, max_side)


class LobbyEnforcer:
    def __init__(self, lobby: Lobby, events: BannedEvents) -> None:
        """``events`` makes the ``banned`` event (with the ban's appeal token)."""
        self.lobby = lobby
        self.events = events
        self.on_ban: Callable[[BanRecord], Awaitable[None]] | None = None
        """Also told of every enforced ban (several nodes: the shared ban cache)."""

    async def enforce(self, ban: BanRecord) -> None:
        # This visitor and its other tabs (same session or device) are removed now; the IP
        # part of the ban applies when anyone connects from it again (others behind the
        # same NAT keep their current chat).
        if self.on_ban is not None:
            await self.on_ban(ban)
        event = await self.events.banned_event(ban, new=True)
        await self.lobby.ban(ban.visitor, event)
        for visitor in list(self.lobby.visitors.values()):
            same_session = ban.session is not None and visitor.session == ban.session
            same_device = ban.device is not None and visitor.device == ban.device
            if same_session or same_device:
                await self.lobby.ban(visitor.id, event)
