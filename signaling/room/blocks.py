"""Blocks: a visitor who blocks its partner is never matched with that person again.

"That person" is every identifier the door knows of them: session, device and IP. The
blocker is remembered by its session and device (never by its IP, which would shut out
everyone behind the blocker's NAT). The IP part of a block lasts ``ip_ttl_s`` only, since
others may share the blocked person's address; session and device parts last ``ttl_s``.

Single process, in memory: the source of truth is :attr:`Blocks._by_blocker`. Bounded:
``max_per_blocker`` blocks per blocker identifier (oldest dropped), ``max_blockers``
blocker identifiers (least recently blocking dropped), and expired entries pruned.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """What a block is keyed by: a visitor's identifiers."""

    session: str | None
    device: str | None
    ip: str

    def blocker_keys(self) -> tuple[str, ...]:
        keys = []
        if self.session:
            keys.append("s:" + self.session)
        if self.device:
            keys.append("d:" + self.device)
        return tuple(keys)

    def blocked_keys(self) -> tuple[str, ...]:
        return (*self.blocker_keys(), "i:" + self.ip)


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
        self._by_blocker: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self.count = 0
        """Blocks recorded (for metrics)."""

    def block(self, blocker: Identity, blocked: Identity) -> None:
        now = self.clock()
        self.count += 1
        for key in blocker.blocker_keys():
            entries = self._by_blocker.pop(key, None) or OrderedDict()
            self._by_blocker[key] = entries
            for target in blocked.blocked_keys():
                ttl = self.ip_ttl_s if target.startswith("i:") else self.ttl_s
                entries.pop(target, None)
                entries[target] = now + ttl
            while len(entries) > self.max_per_blocker:
                entries.popitem(last=False)
        while len(self._by_blocker) > self.max_blockers:
            self._by_blocker.popitem(last=False)

    def allows(self, a: Identity, b: Identity) -> bool:
        """Whether ``a`` and ``b`` may be matched (neither blocked the other)."""
        now = self.clock()
        return not (
            self._blocked(a, b.blocked_keys(), now) or self._blocked(b, a.blocked_keys(), now)
        )

    def _blocked(self, blocker: Identity, targets: Sequence[str], now: float) -> bool:
        for key in blocker.blocker_keys():
            entries = self._by_blocker.get(key)
            if not entries:
                continue
            for target in targets:
                until = entries.get(target)
                if until is None:
                    continue
                if until > now:
                    return True
                del entries[target]
        return False

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_blocker.values())
