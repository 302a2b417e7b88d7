"""Partners on other nodes: what this node's lobby does when the partner's node speaks.

The multi-node side (:class:`signaling.routing.room.SharedRoom`) calls these when a message
arrives over the bus for one of this node's visitors; each checks that the visitor is still
in the match the message is about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signaling.room.remote import RemoteVisitor
from signaling.room.visitor import EndReason, Line

if TYPE_CHECKING:
    from signaling.room.lobby import Lobby


class RemotePartners:
    """The lobby's side of matches with visitors on other nodes."""

    def __init__(self, lobby: Lobby) -> None:
        self.lobby = lobby

    def ended(self, visitor_id: str, match_id: str, reason: EndReason) -> None:
        """The partner's node ended a match (Next, leave, disconnect, ban)."""
        visitor = self.lobby.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        match = visitor.match
        self.lobby.end_match(match, reason, by=match.partner_of(visitor), tell_remote=False)

    def event(self, visitor_id: str, match_id: str, event: dict[str, object]) -> None:
        """An event from the partner on another node (chat, typing, media) for a visitor."""
        visitor = self.lobby.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        partner = visitor.match.partner_of(visitor)
        if event.get("type") == "chat" and isinstance(event.get("text"), str):
            visitor.match.lines.append(Line(partner.id, str(event["text"]), self.lobby.clock()))
        if event.get("type") == "media" and isinstance(partner, RemoteVisitor):
            partner.audio, partner.video = bool(event.get("audio")), bool(event.get("video"))
        visitor.send_json(event)

    def rewire(self, visitor_id: str, match_id: str, endpoint: str | None) -> None:
        """The partner's media moved (its SFU process was replaced): pull it from there."""
        visitor = self.lobby.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        partner = visitor.match.partner_of(visitor)
        if isinstance(partner, RemoteVisitor) and visitor.media:
            partner.endpoint = endpoint
            self.lobby.wiring.connect(visitor.id, partner.id, endpoint)
            self.lobby.emit("media_rewired", visitor.match, visitor.id)

    def video_open(self, visitor_id: str, match_id: str, keyframe: int | None) -> None:
        """The partner's node pre-screened the partner's video safe: the composition root
        opens it here (``"remote_video_open"``: match, visitor, keyframe)."""
        visitor = self.lobby.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        if isinstance(visitor.match.partner_of(visitor), RemoteVisitor) and visitor.media:
            self.lobby.emit("remote_video_open", visitor.match, visitor_id, keyframe)

    def node_died(self, node: str) -> None:
        """Another node stopped beating: end this node's matches with its visitors."""
        for visitor in list(self.lobby.visitors.values()):
            match = visitor.match
            if match is None:
                continue
            partner = match.partner_of(visitor)
            if isinstance(partner, RemoteVisitor) and partner.node == node:
                self.lobby.end_match(match, "disconnected", by=partner, tell_remote=False)

    def nodes(self) -> set[str]:
        """The other nodes this node's matches depend on."""
        nodes = set()
        for visitor in self.lobby.visitors.values():
            if visitor.match is not None:
                partner = visitor.match.partner_of(visitor)
                if isinstance(partner, RemoteVisitor):
                    nodes.add(partner.node)
        return nodes
