"""Login throttling: failed logins per account name and per IP, with lockout.

``limit`` failures of one key (a name, or an IP) within ``window`` seconds lock that key
for ``lockout`` seconds; while locked, every login for it is refused, even with the right
password. The same rule applies to names that do not exist, so lockouts do not reveal which
names are accounts. A successful login clears its name's failures (not its IP's).

Single process: the counts live in this object, a ``cachetools.TTLCache`` on the injected
clock: a key is forgotten ``max(window, lockout)`` after its last failure, when it can no
longer count or lock; beyond ``max_keys`` the least recently used key goes first (expired
ones before any). Each node of a cluster throttles on its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import TTLCache

MAX_KEYS = 50_000


@dataclass
class _Key:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Throttle:
    def __init__(
        self,
        limit: int,
        window: float,
        lockout: float,
        clock: Callable[[], float],
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self.max_keys = max_keys
        self._keys: TTLCache[str, _Key] = TTLCache(
            maxsize=max_keys, ttl=max(window, lockout), timer=clock
        )

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        state = self._keys.get(key)
        if state is None:
            return 0.0
        return max(0.0, state.locked_until - self.clock())

    def failed(self, key: str) -> bool:
        """Count a failure; ``True`` when it locks ``key``."""
        now = self.clock()
        state = self._keys.get(key) or _Key()
        while state.failures and state.failures[0] <= now - self.window:
            state.failures.popleft()
        state.failures.append(now)
        locked = len(state.failures) >= self.limit
        if locked:
            state.locked_until = now + self.lockout
            state.failures.clear()
        self._keys[key] = state  # most recent; kept ``max(window, lockout)`` from now
        return locked

    def succeeded(self, key: str) -> None:
        state = self._keys.get(key)
        if state is not None and state.locked_until <= self.clock():
            del self._keys[key]


class LoginThrottle:
    """Per-name and per-IP :class:`Throttle` s for the login form."""

    def __init__(
        self,
        per_name: int,
        per_ip: int,
        window: float,
        lockout: float,
        clock: Callable[[], float],
    ) -> None:
        self.names = Throttle(per_name, window, lockout, clock)
        self.ips = Throttle(per_ip, window, lockout, clock)

    def retry_after(self, name: str, ip: str) -> float:
        return max(self.names.retry_after(name), self.ips.retry_after(ip))

    def failed(self, name: str, ip: str) -> bool:
        """Count a failed login; ``True`` when the name or the IP is now locked."""
        name_locked = self.names.failed(name)
        ip_locked = self.ips.failed(ip)
        return name_locked or ip_locked

    def succeeded(self, name: str) -> None:
        self.names.succeeded(name)
