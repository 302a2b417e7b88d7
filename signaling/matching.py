"""Pure matchmaking: who is waiting, and who should be paired with whom.

Single-process queue: the source of truth is ``Matchmaker._queues`` (one FIFO per mode).
Nothing here does I/O or sleeps; time comes from the injected ``clock`` so that cooldowns
are testable. Pairing happens on arrival (:meth:`Matchmaker.enqueue`); there is no polling
loop. When the only possible partners are ones the newcomer just parted from, the caller
asks :meth:`Matchmaker.retry_in` when to try again and calls :meth:`Matchmaker.try_pair`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from signaling.protocol import Mode

Clock = Callable[[], float]
Compatible = Callable[[str, str], bool]


def _always(_a: str, _b: str) -> bool:
    return True


@dataclass(frozen=True)
class Ticket:
    """A visitor waiting for a partner."""

    visitor: str
    """Visitor id."""
    mode: Mode
    """Queue the visitor waits in."""
    since: float
    """Clock time the visitor entered the queue."""


@dataclass
class Matchmaker:
    """FIFO queues per mode with a re-pair cooldown and an optional compatibility rule."""

    clock: Clock
    rematch_cooldown: float = 10.0
    """Seconds during which two visitors who just parted are not paired again."""
    compatible: Compatible = _always
    """Extra rule (e.g. blocks): two visitors are paired only if it returns True."""
    _queues: dict[Mode, dict[str, Ticket]] = field(default_factory=dict)
    _parted: dict[frozenset[str], float] = field(default_factory=dict)

    def enqueue(self, visitor: str, mode: Mode) -> str | None:
        """Pair ``visitor`` with the longest-waiting eligible visitor, or queue it.

        Returns the partner's id (already removed from the queue), or ``None`` when the
        visitor now waits. A visitor already waiting is moved to the new mode's queue end.
        """
        self.remove(visitor)
        partner = self._find_partner(visitor, mode)
        if partner is not None:
            del self._queues[mode][partner]
            return partner
        self._queues.setdefault(mode, {})[visitor] = Ticket(visitor, mode, self.clock())
        return None

    def try_pair(self, visitor: str) -> str | None:
        """Try again to pair a waiting visitor; on success both leave the queue."""
        ticket = self.ticket(visitor)
        if ticket is None:
            return None
        partner = self._find_partner(visitor, ticket.mode)
        if partner is None:
            return None
        queue = self._queues[ticket.mode]
        del queue[visitor]
        del queue[partner]
        return partner

    def remove(self, visitor: str) -> bool:
        """Take a visitor out of whatever queue it is in. Returns whether it was queued."""
        for queue in self._queues.values():
            if visitor in queue:
                del queue[visitor]
                return True
        return False

    def ticket(self, visitor: str) -> Ticket | None:
        for queue in self._queues.values():
            found = queue.get(visitor)
            if found is not None:
                return found
        return None

    def waiting(self, mode: Mode) -> int:
        return len(self._queues.get(mode, {}))

    def parted(self, a: str, b: str) -> None:
        """Record that ``a`` and ``b`` just ended a match (starts their cooldown)."""
        self._prune()
        self._parted[frozenset((a, b))] = self.clock()

    def forget(self, visitor: str) -> None:
        """Drop everything known about a visitor who left for good."""
        self.remove(visitor)
        for pair in [p for p in self._parted if visitor in p]:
            del self._parted[pair]

    def retry_in(self, visitor: str) -> float | None:
        """Seconds until a waiting visitor could be paired with someone now excluded only
        by the cooldown; ``None`` if no such visitor waits."""
        ticket = self.ticket(visitor)
        if ticket is None:
            return None
        now = self.clock()
        soonest: float | None = None
        for other in self._queues.get(ticket.mode, {}):
            if other == visitor or not self.compatible(visitor, other):
                continue
            remaining = self._cooldown_left(visitor, other, now)
            if remaining > 0 and (soonest is None or remaining < soonest):
                soonest = remaining
        return soonest

    def _find_partner(self, visitor: str, mode: Mode) -> str | None:
        now = self.clock()
        for other in self._queues.get(mode, {}):
            if other == visitor:
                continue
            if self._cooldown_left(visitor, other, now) > 0:
                continue
            if self.compatible(visitor, other):
                return other
        return None

    def _cooldown_left(self, a: str, b: str, now: float) -> float:
        at = self._parted.get(frozenset((a, b)))
        if at is None:
            return 0.0
        return max(0.0, at + self.rematch_cooldown - now)

    def _prune(self) -> None:
        horizon = self.clock() - self.rematch_cooldown
        for pair in [p for p, at in self._parted.items() if at < horizon]:
            del self._parted[pair]
