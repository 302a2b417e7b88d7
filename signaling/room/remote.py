"""A partner whose WebSocket is on another node.

In a match that spans nodes, each node holds its own visitor as a
:class:`~signaling.room.visitor.Visitor` and the partner as a :class:`RemoteVisitor`: what it
was told about the partner when the match was made (identifiers for reports and blocks,
display name, media state, where to pull its media from), and a :meth:`send` that carries
events to the partner's node over the bus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from duet.tasks import TaskSet
from signaling.protocol import Event, Mode

if TYPE_CHECKING:
    from signaling.room.visitor import Participant

logger = logging.getLogger(__name__)

Send = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]
"""``send(node, message)``: the bus."""


@dataclass(eq=False)
class RemoteVisitor:
    """The partner on another node, as seen from this one."""

    id: str
    node: str
    ip: str
    session: str | None
    device: str | None
    name: str | None
    interests: tuple[str, ...]
    audio: bool
    video: bool
    media: bool
    """Whether the partner has a peer connection (video mode)."""
    endpoint: str | None
    """Where its media can be pulled from (its SFU process's pipe)."""
    mode: Mode
    match_id: str = ""
    send_bus: Send | None = field(default=None, repr=False)
    gone: bool = False
    """Its node died or it left: nothing more is sent to it."""
    _sending: TaskSet = field(default_factory=TaskSet, repr=False)

    @property
    def alive(self) -> bool:
        return not self.gone

    @property
    def state(self) -> str:
        return "closed" if self.gone else "matched"

    def send(self, event: Event) -> None:
        """Relay ``event`` to the partner's socket (through its node)."""
        self.tell({"kind": "event", "event": event.model_dump(mode="json")})

    def tell(self, message: dict[str, Any]) -> None:
        """Send a bus message about this match to the partner's node (in the background)."""
        if self.gone or self.send_bus is None:
            return
        payload = {**message, "to": self.id, "match": self.match_id}
        self._sending.spawn(self._send(payload))

    async def _send(self, payload: dict[str, Any]) -> None:
        if self.send_bus is None:
            return
        try:
            await self.send_bus(self.node, payload)
        except Exception:
            logger.exception("could not reach node %s", self.node)

    def describe(self) -> dict[str, Any]:
        """What the other node needs to know about this visitor (JSON)."""
        return describe(self, self.node, self.endpoint)

    @classmethod
    def from_description(cls, data: dict[str, Any], match_id: str, send_bus: Send) -> RemoteVisitor:
        return cls(
            id=str(data["id"]),
            node=str(data["node"]),
            ip=str(data.get("ip", "")),
            session=data.get("session"),
            device=data.get("device"),
            name=data.get("name"),
            interests=tuple(str(x) for x in data.get("interests", [])),
            audio=bool(data.get("audio", True)),
            video=bool(data.get("video", True)),
            media=bool(data.get("media", False)),
            endpoint=data.get("endpoint"),
            mode=data.get("mode", "text"),
            match_id=match_id,
            send_bus=send_bus,
        )


def describe(who: Participant, node: str, endpoint: str | None) -> dict[str, Any]:
    """The one JSON description of a visitor for another node (the ``from`` of an offer,
    the ``visitor`` of a reply), read back by :meth:`RemoteVisitor.from_description`.
    ``node``: where its socket is; ``endpoint``: where its media can be pulled from."""
    return {
        "id": who.id,
        "node": node,
        "ip": who.ip,
        "session": who.session,
        "device": who.device,
        "name": who.name,
        "interests": list(who.interests),
        "audio": who.audio,
        "video": who.video,
        "media": who.media,
        "endpoint": endpoint,
        "mode": who.mode,
    }
