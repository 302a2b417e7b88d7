"""Adapters that give moderation what it asks for, built by the composition root.

* :class:`TapFrameSource`: moderation's frame source is the SFU's tap of a visitor's own
  inbound video.
* :class:`LobbyVideoGate`: the pre-screen's gate is the SFU's outbound video gate of the
  visitor's partner, released in order with the match's wiring, and ``video_state``
  events to both visitors.
* :class:`LobbyEnforcer`: a recorded ban removes the visitor through the lobby (media
  stopped, ``banned`` with its appeal token sent, socket closed, partner re-queued); a
  recorded hold stops the visitor's media and match (``held``, socket kept open) and a
  reviewer's overturn releases it (``held`` with ``released: true``).

Moderation defines the ports; signaling, which depends on both sides, fills them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from moderation.frames import BgrFrame
from moderation.ports import Screened, VideoState
from moderation.records import BanRecord, ReviewItem
from sfu.plane import MediaPlane
from signaling.door.appeals import BannedEvents
from signaling.protocol import HeldEvent, VideoStateEvent
from signaling.room.lobby import Lobby
from signaling.room.remote import RemoteVisitor
from signaling.room.visitor import Match, Visitor

PartnerState = Literal["checking", "waiting", "open"]
PARTNER_STATE: dict[str, PartnerState] = {
    "checking": "checking",
    "face_required": "waiting",
    "open": "open",
}


class TapFrameSource:
    def __init__(self, media: MediaPlane) -> None:
        self.media = media

    async def grab(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        return await self.media.tap(visitor, timeout, max_side)


class LobbyVideoGate:
    """Moderation's :class:`~moderation.ports.VideoGate` over the lobby and media plane.

    Opens are remembered per match, so that a connection rebuilt later in the match (an
    SFU worker died, ``media_rewired``) is opened again without another check. A partner
    on another node is screened by that node (which holds its media): its safe verdict
    comes over the node bus (``video_open``, with the keyframe's timestamp, which the pipe
    keeps) and opens the link here (:meth:`remote_open`). Every node must run the same
    ``moderation.prescreen`` setting."""

    def __init__(self, lobby: Lobby, media: MediaPlane) -> None:
        self.lobby = lobby
        self.media = media
        self.opened: dict[str, str] = {}
        """Visitor whose video was released -> the match it was released in (for a
        partner on another node: the local listener -> the match)."""

    async def screen(self, visitor: str, timeout: float, max_side: int) -> Screened | None:
        screened = await self.media.screen(visitor, timeout, max_side)
        return None if screened is None else Screened(screened[0], screened[1])

    def release(self, visitor: str, match_id: str, keyframe: int | None) -> None:
        match = self._match(visitor, match_id)
        if match is None:
            return
        self.opened[visitor] = match_id
        source = self.lobby.visitors[visitor]
        partner = match.partner_of(source)
        if isinstance(partner, RemoteVisitor):
            partner.tell({"kind": "video_open", "keyframe": keyframe})
        elif partner.media:
            self.lobby.wiring.release(partner.id, visitor, keyframe)

    def tell(self, visitor: str, match_id: str, state: VideoState) -> None:
        match = self._match(visitor, match_id)
        if match is None:
            return
        source = self.lobby.visitors[visitor]
        source.send(VideoStateEvent(side="own", state=state))
        partner = match.partner_of(source)  # on another node: relayed through it
        partner.send(VideoStateEvent(side="partner", state=PARTNER_STATE[state]))

    def remote_open(self, match: Match, listener: str, keyframe: int | None) -> None:
        """The partner of ``listener`` (on another node) was screened safe there."""
        visitor = self.lobby.visitors.get(listener)
        if visitor is None or visitor.match is not match:
            return
        self.opened[listener] = match.id
        self.lobby.wiring.release(listener, match.partner_of(visitor).id, keyframe)

    def rewired(self, match: Match, listener: str) -> None:
        """``listener``'s outbound media was connected anew: open it again if its source
        was already screened in this match."""
        visitor = self.lobby.visitors.get(listener)
        if visitor is None or visitor.match is not match:
            return
        partner = match.partner_of(visitor)
        screened = partner.id if isinstance(partner, RemoteVisitor) else None
        if self.opened.get(partner.id) == match.id or (
            screened is not None and self.opened.get(listener) == match.id
        ):
            self.lobby.wiring.release(listener, partner.id, None)

    def forget(self, visitor: str) -> None:
        self.opened.pop(visitor, None)

    def _match(self, visitor: str, match_id: str) -> Match | None:
        found = self.lobby.visitors.get(visitor)
        if found is None or found.match is None or found.match.id != match_id:
            return None
        return found.match


class LobbyEnforcer:
    def __init__(
        self,
        lobby: Lobby,
        events: BannedEvents,
        on_ban: Callable[[BanRecord], Awaitable[None]] | None = None,
    ) -> None:
        """``events`` makes the ``banned`` event (with the ban's appeal token).
        ``on_ban``: also told of every enforced ban (several nodes: the shared ban cache)."""
        self.lobby = lobby
        self.events = events
        self.on_ban = on_ban

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
