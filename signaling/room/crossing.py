"""What the lobby asks of the side that spans several nodes (Redis), and nothing more.

With one node the lobby pairs, blocks and reports by itself. With ``redis_url`` set, the
composition root hands the :class:`~signaling.room.lobby.Lobby` a factory for a
:class:`Crossing` (:class:`signaling.routing.room.SharedRoom`), built from the lobby at
construction. The crossing drives the lobby only through its public methods
(``start_match``, ``cancel_retry``, ``subject``, ``remote``
(:class:`~signaling.room.partners.RemotePartners`), its events and its ``visitors``);
the lobby calls it only through this interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from duet.person import Person

if TYPE_CHECKING:
    from signaling.room.remote import RemoteVisitor
    from signaling.room.visitor import Visitor
    from signaling.storage.reports import Filing


class Crossing(Protocol):
    """Matching, blocks, cooldowns and reports across nodes."""

    waiting: dict[str, int]
    """Visitors waiting per mode on every node."""

    def pair_soon(self, visitor: Visitor) -> None:
        """Look for a partner for a waiting ``visitor`` (on any node)."""

    def leave_queue(self, visitor: Visitor) -> None:
        """``visitor`` no longer waits."""

    def parted(self, a: str, b: str) -> None:
        """A match between ``a`` and ``b`` ended (the re-pair cooldown starts)."""

    def block(self, blocker: Person, blocked: Person) -> None:
        """Record a block where every node's matching sees it."""

    def forward_report(self, reported: RemoteVisitor, filing: Filing, reporter: Person) -> None:
        """Hand a report to the reported visitor's node."""
