"""Adapters that give moderation what it asks for, built by the composition root.

* :class:`TapFrameSource`: moderation's frame source is the SFU's tap of a visitor's own
  inbound video.
* :class:`LobbyEnforcer`: a recorded ban removes the visitor through the lobby (media
  stopped, ``banned`` with its appeal token sent, socket closed, partner re-queued).

Moderation defines the ports; signaling, which depends on both sides, fills them in.
"""

from __future__ import annotations

from moderation.classifiers import BgrFrame
from moderation.records import BanRecord
from sfu.plane import MediaPlane
from signaling.appeals import Appeals
from signaling.lobby import Lobby


class TapFrameSource:
    def __init__(self, media: MediaPlane) -> None:
        self.media = media

    async def grab(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        return await self.media.tap(visitor, timeout, max_side)


class LobbyEnforcer:
    def __init__(self, lobby: Lobby, appeals: Appeals) -> None:
        self.lobby = lobby
        self.appeals = appeals

    async def enforce(self, ban: BanRecord) -> None:
        # Only this visitor is removed now; the IP part of the ban applies when anyone
        # connects from it again (others behind the same NAT keep their current chat).
        await self.lobby.ban(ban.visitor, await self.appeals.banned_event(ban, new=True))
