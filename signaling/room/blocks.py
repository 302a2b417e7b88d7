"""Blocks: a visitor who blocks its partner is never matched with that person again.

"That person" is every identifier the door knows of them: session, device and IP. The
blocker is remembered by its session and device (never by its IP, which would shut out
everyone behind the blocker's NAT). The IP part of a block lasts ``ip_ttl_s`` only, since
others may share the blocked person's address; session and device parts last ``ttl_s``.

Single process, in memory: the source of truth is :attr:`Blocks._by_blocker`, cachetools
maps on the injected clock. Each block lives its own time (``TLRUCache``: ``ttl_s`` or
``ip_ttl_s``); a blocker identifier is forgotten when its newest block has expired
(``TTLCache`` of the longer time, refreshed by each block). Bounded: ``max_per_blocker``
blocks per blocker identifier (oldest block dropped first), ``max_blockers`` blocker
identifiers (least recently used dropped first); expired entries always go before any.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cachetools import TLRUCache, TTLCache

from duet.person import Person


class Blocks:
    def __init__(
        self,
        ttl_s: float,
        ip_ttl_s: float,
        clock: Callable[[], float],
        max_per_blocker: int = 500,
        max_blockers: int = 100_000,
    ) -> None:
        self.ttl_s = ttl_s
        self.ip_ttl_s = ip_ttl_s
        self.clock = clock
        self.max_per_blocker = max_per_blocker
        self.max_blockers = max_blockers
        self._by_blocker: TTLCache[str, TLRUCache[str, float]] = TTLCache(
            maxsize=max_blockers, ttl=max(ttl_s, ip_ttl_s), timer=clock
        )
        self.count = 0
        """Blocks recorded (for metrics)."""

    def block(self, blocker: Person, blocked: Person) -> None:
        now = self.clock()
        self.count += 1
        for key in blocker.own_keys():
            entries = self._by_blocker.pop(key, None)
            if entries is None:
                entries = TLRUCache(maxsize=self.max_per_blocker, ttu=_until, timer=self.clock)
            for target in blocked.all_keys():
                ttl = self.ip_ttl_s if target.startswith("i:") else self.ttl_s
                entries.pop(target, None)  # blocked again: newest, its time from now
                entries[target] = now + ttl
            self._by_blocker[key] = entries  # most recent; kept while its newest block lasts

    def allows(self, a: Person, b: Person) -> bool:
        """Whether ``a`` and ``b`` may be matched (neither blocked the other)."""
        return not (self._blocked(a, b.all_keys()) or self._blocked(b, a.all_keys()))

    def _blocked(self, blocker: Person, targets: Sequence[str]) -> bool:
        for key in blocker.own_keys():
            entries = self._by_blocker.get(key)
            if entries is not None and any(target in entries for target in targets):
                return True
        return False

    def __len__(self) -> int:
        """Blocks held (expired ones not yet dropped included)."""
        return sum(len(entries) for entries in list(self._by_blocker.values()))


def _until(target: str, until: float, now: float) -> float:
    """A block's time to use is its end, stored as its value."""
    return until
