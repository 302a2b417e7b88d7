"""Adapters that give moderation what it asks for, built by the composition root.

* :class:`TapFrameSource`: moderation's frame source is the SFU's tap of a visitor's own
  inbound video.
* :class:`LobbyEnforcer`: a recorded ban removes the visitor through the lobby (media
  stopped, ``banned`` with its appeal token sent, socket closed, partner re-queued); a
  recorded hold stops the visitor's media and match (``held``, socket kept open) and a
  reviewer's overturn releases it (``held`` with ``released: true``).

Moderation defines the ports; signaling, which depends on both sides, fills them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from moderation.classifiers import BgrFrame
from moderation.records import BanRecord, ReviewItem
from sfu.plane import MediaPlane
from signaling.appeals import BannedEvents
from signaling.lobby import Lobby
from signaling.protocol import HeldEvent
from signaling.visitor import Visitor


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

    def _held_visitors(self, item: ReviewItem) -> list[Visitor]:
        """The held visitor and its other tabs (same session or device; never by IP)."""
        found = []
        for visitor in list(self.lobby.visitors.values()):
            same_session = item.session is not None and visitor.session == item.session
            same_device = item.device is not None and visitor.device == item.device
            if visitor.id == item.visitor or same_session or same_device:
                found.append(visitor)
        return found

    async def hold(self, item: ReviewItem) -> None:
        until = (item.hold_until or item.created_at).isoformat(timespec="seconds")
        for visitor in self._held_visitors(item):
            await self.lobby.hold(visitor.id, HeldEvent(until=until))

    async def release(self, item: ReviewItem) -> None:
        """A reviewer cleared the hold (already committed): tell the visitor at once."""
        until = (item.hold_until or item.created_at).isoformat(timespec="seconds")
        moderation = self.lobby.moderation
        for visitor in self._held_visitors(item):
            if moderation is not None:
                moderation.released(visitor.id)
            if visitor.alive:
                visitor.send(HeldEvent(until=until, released=True))
