"""Pure matchmaking: who is waiting, and who should be paired with whom.

Single-process queue: the source of truth is ``Matchmaker._queues`` (one FIFO per mode).
Nothing here does I/O or sleeps; time comes from the injected ``clock``, so cooldowns and
preference fallbacks are testable. Pairing happens on arrival (:meth:`Matchmaker.enqueue`);
there is no polling loop. A visitor who could not be paired asks :meth:`Matchmaker.retry_in`
when something may change (a cooldown or a preference wait running out) and then calls
:meth:`Matchmaker.try_pair`.

Preferences are soft. A visitor with interests accepts only partners sharing one, and a
visitor with a language only partners with the same (or no) language, until they have
waited ``preference_wait`` seconds; after that they accept anyone. Two visitors are paired
when each accepts the other, the ``compatible`` rule (blocks) allows it, and they did not
just part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    interests: frozenset[str] = frozenset()
    """Normalised interest tags (empty: no preference)."""
    language: str | None = None
    """Language code (None: no preference)."""

    def shared_interests(self, other: Ticket) -> frozenset[str]:
        return self.interests & other.interests


@dataclass
class Matchmaker:
    """FIFO queues per mode with soft preferences, a re-pair cooldown and a hard rule."""

    clock: Clock
    rematch_cooldown: float = 10.0
    """Seconds during which two visitors who just parted are not paired again."""
    preference_wait: float = 5.0
    """Seconds a visitor holds out for shared interests and language before taking anyone."""
    compatible: Compatible = _always
    """Hard rule (e.g. blocks): two visitors are paired only if it returns True."""
    _queues: dict[Mode, dict[str, Ticket]] = field(default_factory=dict)
    _parted: dict[frozenset[str], float] = field(default_factory=dict)
    """When each recently parted pair parted, oldest first (the clock never goes back)."""
    _parted_by: dict[str, set[frozenset[str]]] = field(default_factory=dict)

    def enqueue(
        self,
        visitor: str,
        mode: Mode,
        interests: Iterable[str] = (),
        language: str | None = None,
    ) -> str | None:
        """Pair ``visitor`` with the longest-waiting acceptable visitor, or queue it.

        Returns the partner's id (already removed from the queue), or ``None`` when the
        visitor now waits. A visitor already waiting is moved to the new mode's queue end.
        """
        self.remove(visitor)
        ticket = Ticket(visitor, mode, self.clock(), frozenset(interests), language)
        partner = self._find_partner(ticket)
        if partner is not None:
            del self._queues[mode][partner.visitor]
            return partner.visitor
        self._queues.setdefault(mode, {})[visitor] = ticket
        return None

    def try_pair(self, visitor: str) -> str | None:
        """Try again to pair a waiting visitor; on success both leave the queue."""
        ticket = self.ticket(visitor)
        if ticket is None:
            return None
        partner = self._find_partner(ticket)
        if partner is None:
            return None
        queue = self._queues[ticket.mode]
        del queue[visitor]
        del queue[partner.visitor]
        return partner.visitor

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

    def first_waiting(self, mode: Mode) -> str | None:
        """The visitor waiting longest in ``mode``'s queue (the likely next partner)."""
        return next(iter(self._queues.get(mode, {})), None)

    def parted(self, a: str, b: str) -> None:
        """Record that ``a`` and ``b`` just ended a match (starts their cooldown)."""
        self._prune()
        pair = frozenset((a, b))
        self._parted.pop(pair, None)  # re-inserted at the end: keeps time order
        self._parted[pair] = self.clock()
        for visitor in pair:
            self._parted_by.setdefault(visitor, set()).add(pair)

    def forget(self, visitor: str) -> None:
        """Drop everything known about a visitor who left for good."""
        self.remove(visitor)
        for pair in self._parted_by.pop(visitor, set()):
            self._drop_pair(pair)

    def retry_in(self, visitor: str) -> float | None:
        """Seconds until pairing a waiting visitor might succeed where it failed now: its
        own preference wait running out, or the cooldown with a waiting visitor ending.
        ``None`` if nothing will change by itself."""
        ticket = self.ticket(visitor)
        if ticket is None:
            return None
        now = self.clock()
        soonest: float | None = None
        if ticket.interests or ticket.language is not None:
            left = ticket.since + self.preference_wait - now
            if left > 0:
                soonest = left
        for other in self._queues.get(ticket.mode, {}).values():
            if other.visitor == visitor or not self.compatible(visitor, other.visitor):
                continue
            left = self._cooldown_left(visitor, other.visitor, now)
            if left > 0 and (soonest is None or left < soonest):
                soonest = left
        return soonest

    def _accepts(self, who: Ticket, other: Ticket, now: float) -> bool:
        """Whether ``who`` (given how long it has waited) takes ``other`` as a partner."""
        if now - who.since >= self.preference_wait:
            return True
        if who.interests and not who.shared_interests(other):
            return False
        return who.language is None or other.language in (None, who.language)

    def _find_partner(self, ticket: Ticket) -> Ticket | None:
        now = self.clock()
        for other in self._queues.get(ticket.mode, {}).values():
            if other.visitor == ticket.visitor:
                continue
            if self._cooldown_left(ticket.visitor, other.visitor, now) > 0:
                continue
            if not (self._accepts(ticket, other, now) and self._accepts(other, ticket, now)):
                continue
            if self.compatible(ticket.visitor, other.visitor):
                return other
        return None

    def _cooldown_left(self, a: str, b: str, now: float) -> float:
        at = self._parted.get(frozenset((a, b)))
        if at is None:
            return 0.0
        return max(0.0, at + self.rematch_cooldown - now)

    def _prune(self) -> None:
        """Drop cooldowns that ended, from the oldest: O(expired), not O(all)."""
        horizon = self.clock() - self.rematch_cooldown
        while self._parted:
            pair, at = next(iter(self._parted.items()))
            if at >= horizon:
                return
            self._drop_pair(pair)

    def _drop_pair(self, pair: frozenset[str]) -> None:
        self._parted.pop(pair, None)
        for visitor in pair:
            pairs = self._parted_by.get(visitor)
            if pairs is not None:
                pairs.discard(pair)
                if not pairs:
                    del self._parted_by[visitor]
