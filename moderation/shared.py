"""State shared by every node through Redis (``redis_url``): the global check rate and
the daily budget of scheduled checks, chat strikes and verbal-report weights.

Each node keeps its own :class:`~moderation.schedule.Backstops` (per match, per visitor,
the report budget); with Redis, a scheduled check must *also* pass :class:`SharedBudget`,
so that N nodes together stay under ``max_checks_per_s`` and ``daily_budget`` instead of
N times them. One Lua script reads Redis's own clock (no clock skew between nodes):

* rate: a counter per second (fixed window) allows ``ceil(max_checks_per_s)`` checks;
* daily: a counter per UTC day allows ``daily_budget`` checks (0: unlimited).

If Redis cannot be reached the check goes ahead on the node's own limits (fail open, as
moderation does everywhere, and logged): an outage must not stop moderation.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from redis.asyncio import Redis

logger = logging.getLogger(__name__)

_TAKE = """
local now = redis.call('TIME')
local second = tonumber(now[1])
local rate_key = KEYS[1] .. ':' .. second
local used = redis.call('INCR', rate_key)
if used == 1 then redis.call('EXPIRE', rate_key, 2) end
if used > tonumber(ARGV[1]) then return 0 end
local day_key = KEYS[2] .. ':' .. math.floor(second / 86400)
local spent = redis.call('INCR', day_key)
if spent == 1 then redis.call('EXPIRE', day_key, 90000) end
local limit = tonumber(ARGV[2])
if limit > 0 and spent > limit then
  redis.call('DECR', day_key)
  return -1
end
return 1
"""


class SharedBudget:
    """The global rate and daily budget of scheduled checks, for all nodes together."""

    def __init__(
        self, redis: Redis, max_per_s: float, daily_budget: int, prefix: str = "duet:"
    ) -> None:
        self.redis = redis
        self.per_second = max(1, math.ceil(max_per_s))
        self.daily_budget = daily_budget
        self.keys = [prefix + "moderation:rate", prefix + "moderation:daily"]
        self._script: Any = redis.register_script(_TAKE)
        self.errors = 0

    async def take(self) -> str | None:
        """``None`` when the check may run; else the skip reason (``rate_limited`` or
        ``daily_budget``)."""
        try:
            answer = int(
                await self._script(keys=self.keys, args=[self.per_second, self.daily_budget])
            )
        except (ConnectionError, OSError) as exc:
            self.errors += 1
            logger.warning("shared moderation budget unavailable (%s): node limits only", exc)
            return None
        if answer == 1:
            return None
        return "rate_limited" if answer == 0 else "daily_budget"

    async def used_today(self) -> int:
        """Checks spent today by all nodes (for tests and metrics)."""
        second = int((await self.redis.time())[0])
        value = await self.redis.get(f"{self.keys[1]}:{second // 86400}")
        return int(value or 0)


_STRIKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ms, string.format('%016d', seq) .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class SharedStrikes:
    """Flagged chat messages per person within ``window_s``, shared by all nodes (a sorted
    set per person, scored by Redis's clock): strikes follow a session to another node."""

    def __init__(self, redis: Redis, window_s: float, prefix: str = "duet:") -> None:
        self.redis = redis
        self.window_ms = int(window_s * 1000)
        self.prefix = prefix + "moderation:strikes:"
        self._script: Any = redis.register_script(_STRIKE)

    async def add(self, person: str, text: str) -> list[str]:
        """Record a flagged message of ``person``; returns their messages in the window,
        oldest first."""
        keys = [self.prefix + person, self.prefix + "seq"]
        found = await self._script(keys=keys, args=[self.window_ms, text])
        return [_text(m).split(":", 1)[1] for m in found]

    async def clear(self, person: str) -> None:
        await self.redis.delete(self.prefix + person)


_WEIGH = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
local mine = {}
for key in string.gmatch(ARGV[2], '[^|]+') do mine[key] = true end
local distinct = true
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  for key in string.gmatch(member, '[^|]+') do
    if mine[key] then distinct = false end
  end
end
if distinct then redis.call('ZADD', KEYS[1], ms, ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""


class SharedWeights:
    """Distinct verbal reporters per reported person within ``window_s``, shared by all
    nodes (one atomic script: two reporters sharing any key count once)."""

    def __init__(self, redis: Redis, window_s: float, prefix: str = "duet:") -> None:
        self.redis = redis
        self.window_ms = int(window_s * 1000)
        self.prefix = prefix + "reports:weights:"
        self._script: Any = redis.register_script(_WEIGH)

    async def add(self, target: str, reporter: tuple[str, ...]) -> int:
        """Record a report; returns the distinct reporters about ``target`` in the window."""
        keys = "|".join(k.replace("|", "") for k in reporter)
        return int(await self._script(keys=[self.prefix + target], args=[self.window_ms, keys]))

    async def forget(self, target: str) -> None:
        await self.redis.delete(self.prefix + target)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
