"""Rate limits (the ``limits`` package), chat backoff and bot suspicion.

* :class:`RateLimits`: named limits from :class:`~signaling.config.door.LimitSettings`
  over one storage. :func:`limit_storage` is the one place that picks the storage: memory
  for one node, Redis when ``redis_url`` is set. Counters expire with their window, so
  memory stays bounded by the active keys.
* :class:`ChatBackoff`: going over the chat limit starts a timeout (10 s doubling up to
  5 min); repeated violations disconnect. Keyed by session, so reconnecting does not
  reset it; entries are forgotten after a quiet period, and their number is capped.
* :class:`Suspects`: IPs and devices that tripped a connect, join or next limit get the
  harder challenge for a while (bounded, oldest forgotten first).

Clocks are injected where this module keeps time itself; the ``limits`` windows use the
wall clock (its own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from cachetools import TLRUCache, TTLCache
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from duet.clock import SYSTEM_CLOCK
from signaling.config.door import LimitSettings

LimitName = Literal[
    "http_per_ip",
    "ws_connects_per_ip",
    "sessions_per_ip",
    "joins",
    "nexts",
    "chat",
    "typing",
    "reports",
]
LIMIT_NAMES: tuple[LimitName, ...] = get_args(LimitName)
PER_IP: frozenset[LimitName] = frozenset({"http_per_ip", "ws_connects_per_ip", "sessions_per_ip"})


def limit_storage(redis_url: str = "") -> Storage:
    """The rate-limit storage: in memory for one node; in Redis (shared by every node, so a
    visitor cannot dodge a limit by reconnecting to another node) when ``redis_url`` is set."""
    if not redis_url:
        return MemoryStorage()
    uri = "async+" + redis_url if redis_url.startswith(("redis://", "rediss://")) else redis_url
    return RedisStorage(uri, implementation="redispy", key_prefix="duet:limits")


class RateLimits:
    """``await hit(name, key)``: count one event against limit ``name`` for ``key``."""

    def __init__(
        self,
        settings: LimitSettings,
        storage: Storage | None = None,
        wall: Callable[[], float] = lambda: SYSTEM_CLOCK.wall().timestamp(),
    ) -> None:
        """``wall``: POSIX seconds, to turn a window's reset time into a wait; it must be
        the real wall clock, which the ``limits`` package reads itself."""
        self.settings = settings
        self.wall = wall
        self.storage = storage if storage is not None else limit_storage()
        self._limiter = SlidingWindowCounterRateLimiter(self.storage)
        self._items: dict[LimitName, RateLimitItem] = {
            name: parse(str(getattr(settings, name))) for name in LIMIT_NAMES
        }
        self._exempt = [ipaddress.ip_network(n, strict=False) for n in settings.exempt_networks]
        self.refused: dict[str, int] = dict.fromkeys(LIMIT_NAMES, 0)
        """Events refused, by limit (for metrics)."""

    def item(self, name: LimitName) -> RateLimitItem:
        return self._items[name]

    def exempt(self, ip: str) -> bool:
        if not self._exempt:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._exempt)

    async def hit(self, name: LimitName, key: str) -> bool:
        """Count one event; ``False`` if it goes over the limit (and is refused)."""
        if name in PER_IP and self.exempt(key):
            return True
        allowed = await self._limiter.hit(self._items[name], name, key)
        if not allowed:
            self.refused[name] += 1
        return allowed

    async def retry_after(self, name: LimitName, key: str) -> int:
        """Whole seconds until ``key`` may try ``name`` again (at least 1)."""
        stats = await self._limiter.get_window_stats(self._items[name], name, key)
        return max(1, int(stats.reset_time - self.wall() + 0.999))


@dataclass
class _Offence:
    level: int = 0
    """Timeouts started so far (the next lasts ``base * 2**level``)."""
    violations: int = 0
    until: float = 0.0
    """Clock time the current timeout ends."""
    last: float = 0.0
    """Clock time of the last violation."""


BackoffOutcome = Literal["ok", "timeout", "disconnect"]


@dataclass(frozen=True)
class BackoffResult:
    outcome: BackoffOutcome
    retry_after: float = 0.0
    """Seconds left in the timeout (``timeout``)."""


class ChatBackoff:
    """Escalating chat timeouts per key (a session). ``check`` before relaying a message:
    during a timeout it is refused; ``tripped`` when the rate limit refused one."""

    def __init__(
        self,
        base_s: float,
        max_s: float,
        violations_to_disconnect: int,
        clock: Callable[[], float],
        max_keys: int = 100_000,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.violations_to_disconnect = violations_to_disconnect
        self.clock = clock
        self.max_keys = max_keys
        # An offence is forgotten once quiet for ``max_s`` after its timeout ended (its
        # time to use, set each time it is stored); beyond ``max_keys`` the least recently
        # offending key goes first (a flood of new keys can only reset old, quiet levels).
        self._offences: TLRUCache[str, _Offence] = TLRUCache(
            maxsize=max_keys, ttu=self._forgotten_at, timer=clock
        )

    def _forgotten_at(self, key: str, offence: _Offence, now: float) -> float:
        return max(offence.last, offence.until, now) + self.max_s

    def check(self, key: str) -> BackoffResult:
        """Whether a message of ``key`` may go now. A message during a timeout is refused
        and counts as a violation."""
        offence = self._offences.get(key)
        now = self.clock()
        if offence is None or now >= offence.until:
            return BackoffResult("ok")
        return self._violate(key, offence, now, start_timeout=False)

    def tripped(self, key: str) -> BackoffResult:
        """The rate limit refused a message of ``key``: start the next, longer timeout."""
        offence = self._offences.get(key) or _Offence()
        return self._violate(key, offence, self.clock(), start_timeout=True)

    def _violate(
        self, key: str, offence: _Offence, now: float, start_timeout: bool
    ) -> BackoffResult:
        offence.violations += 1
        offence.last = now
        if start_timeout:
            offence.until = now + min(self.max_s, self.base_s * 2**offence.level)
            offence.level += 1
        self._offences[key] = offence  # (re)stored: most recent, quiet period from now
        if offence.violations >= self.violations_to_disconnect:
            return BackoffResult("disconnect")
        return BackoffResult("timeout", max(0.0, offence.until - now))

    def level(self, key: str) -> int:
        offence = self._offences.get(key)
        return 0 if offence is None else offence.level

    def __len__(self) -> int:
        return len(self._offences)


class Suspects:
    """Keys (``ip:...``, ``device:...``) that behaved like bots, for ``ttl`` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float], max_size: int = 100_000) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_size = max_size
        # Marked keys for ``ttl`` seconds of the injected clock; beyond ``max_size`` the
        # least recently marked key is forgotten first (it only eases a challenge).
        self._marked: TTLCache[str, bool] = TTLCache(maxsize=max_size, ttl=ttl, timer=clock)
        self.marked = 0
        """Times a key was marked (for metrics)."""

    def mark(self, *keys: str | None) -> None:
        for key in keys:
            if key is None:
                continue
            self.marked += 1
            self._marked.pop(key, None)  # marked again: most recent, ``ttl`` from now
            self._marked[key] = True

    def any(self, *keys: str | None) -> bool:
        return any(key is not None and key in self._marked for key in keys)

    def __len__(self) -> int:
        self._marked.expire()
        return len(self._marked)


def ip_key(ip: str) -> str:
    return "ip:" + ip


def device_key(device: str | None) -> str | None:
    return None if device is None else "device:" + device
