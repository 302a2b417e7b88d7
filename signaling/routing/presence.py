"""Who is connected where, and a cache of active bans, in Redis (several nodes).

- **Presence**: each node keeps ``{prefix}presence:{node}``, a hash of its connected
  visitors (id -> ``{"ip", "since"}`` as JSON), expiring with the node's heartbeat if the
  node dies. :meth:`Presence.online` counts every live node's visitors; :meth:`where`
  finds the node holding a visitor (for an admin's force-disconnect from any node).
- **Ban cache**: ``{prefix}ban:{s|d|i}:{id}`` keys hold an active ban (JSON) until it ends.
  Admission checks them before the database; a ban is cached when it is enforced or found
  in the database, and the cache entries are deleted when a ban is lifted. The database
  stays the source of truth: a cache miss always asks it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from duet.clock import SYSTEM_CLOCK, Clock
from moderation.records import BanRecord

MAX_CACHE_S = 3600


def _keys(prefix: str, ip: str | None, session: str | None, device: str | None) -> list[str]:
    keys = []
    if session:
        keys.append(f"{prefix}ban:s:{session}")
    if device:
        keys.append(f"{prefix}ban:d:{device}")
    if ip:
        keys.append(f"{prefix}ban:i:{ip}")
    return keys


def _encode(ban: BanRecord) -> str:
    return json.dumps(
        {
            "id": ban.id,
            "visitor": ban.visitor,
            "ip": ban.ip,
            "session": ban.session,
            "device": ban.device,
            "reason": ban.reason,
            "source": ban.source,
            "created_at": ban.created_at.isoformat(),
            "until": ban.until.isoformat(),
            "evidence_id": ban.evidence_id,
        }
    )


def _decode(data: bytes | str) -> BanRecord:
    raw: dict[str, Any] = json.loads(data)
    return BanRecord(
        id=raw["id"],
        visitor=raw["visitor"],
        ip=raw["ip"],
        session=raw.get("session"),
        device=raw.get("device"),
        reason=raw["reason"],
        source=raw["source"],
        created_at=datetime.fromisoformat(raw["created_at"]),
        until=datetime.fromisoformat(raw["until"]),
        evidence_id=raw.get("evidence_id"),
    )


class Presence:
    def __init__(
        self,
        redis: Redis,
        node: str,
        prefix: str = "duet:",
        ttl: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``clock``: wall time for arrival dates and ban expiry (the node's clock)."""
        self.clock = clock
        self.redis = redis
        self.node = node
        self.prefix = prefix
        self.ttl = ttl

    @property
    def key(self) -> str:
        return f"{self.prefix}presence:{self.node}"

    async def arrived(self, visitor: str, ip: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.key, visitor, json.dumps({"ip": ip, "since": self.clock.wall().timestamp()})
            )
            pipe.pexpire(self.key, int(self.ttl * 1000))
            await pipe.execute()

    async def left(self, visitor: str) -> None:
        await self.redis.hdel(self.key, visitor)

    async def refresh(self) -> None:
        """Called with the heartbeat: the hash lives as long as the node beats."""
        await self.redis.pexpire(self.key, int(self.ttl * 1000))

    async def online(self, nodes: list[str]) -> int:
        """Visitors connected to any of ``nodes``."""
        total = 0
        for node in nodes:
            total += int(await self.redis.hlen(f"{self.prefix}presence:{node}"))
        return total

    async def where(self, visitor: str, nodes: list[str]) -> str | None:
        for node in nodes:
            if await self.redis.hexists(f"{self.prefix}presence:{node}", visitor):
                return node
        return None

    # --- ban cache ----------------------------------------------------------------------

    async def cache_ban(self, ban: BanRecord) -> None:
        ttl = min(MAX_CACHE_S, (ban.until - self.clock.wall()).total_seconds())
        if ttl <= 0:
            return
        data = _encode(ban)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in _keys(self.prefix, ban.ip, ban.session, ban.device):
                pipe.set(key, data, px=int(ttl * 1000))
            await pipe.execute()

    async def cached_ban(
        self, ip: str | None, session: str | None, device: str | None
    ) -> BanRecord | None:
        keys = _keys(self.prefix, ip, session, device)
        if not keys:
            return None
        for value in await self.redis.mget(keys):
            if value is not None:
                ban = _decode(value)
                if ban.until > self.clock.wall():
                    return ban
        return None

    async def forget_ban(self, ban: BanRecord) -> None:
        keys = _keys(self.prefix, ban.ip, ban.session, ban.device)
        if keys:
            await self.redis.delete(*keys)
