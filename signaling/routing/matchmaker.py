"""Matchmaking shared by every node, in Redis, with atomic pairing.

The same rules as :class:`signaling.room.matching.Matchmaker` (FIFO per mode, soft interest and
language preferences with a fallback wait, a re-pair cooldown, blocks as a hard rule), but
the queues live in Redis and one Lua script does "find the longest-waiting acceptable
visitor and claim it" atomically: two nodes racing for the same waiting visitor can never
both get it, and nobody is ever in two matches.

Keys (all under ``prefix``; a single Redis, not Redis Cluster: the script derives keys):

- ``q:{mode}``: sorted set of waiting visitors, scored by the Redis time they queued (ms);
- ``t:{visitor}``: hash ``mode since interests language ids node``;
- ``parted:{a}|{b}``: exists while two visitors who just parted may not meet again (TTL);
- ``blk:{identity}``: what a blocker's session (``s:``) or device (``d:``) key blocked:
  a sorted set of identities (``s:``, ``d:``, ``i:ip``) scored by when each block ends;
- ``node:{id}``: a node's heartbeat (see :mod:`signaling.routing.presence`). Tickets of
  nodes without one are stale and removed when met.

Time is Redis's own (``TIME``), so nodes' clocks need not agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from signaling.protocol import Mode

_PAIR_SCRIPT = """
local prefix, op, visitor = ARGV[1], ARGV[2], ARGV[3]
local pref_wait, scan_limit, cooldown = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[12])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function split(s)
  local out = {}
  for w in string.gmatch(s or '', '[^,]+') do out[#out + 1] = w end
  return out
end
local function set(list)
  local out = {}
  for _, v in ipairs(list) do out[v] = true end
  return out
end
local function load(id)
  local h = redis.call('HMGET', prefix .. 't:' .. id,
                       'mode', 'since', 'interests', 'language', 'ids', 'node')
  if not h[1] then return nil end
  return {id = id, mode = h[1], since = tonumber(h[2]), interests = set(split(h[3])),
          raw_interests = h[3], language = h[4] or '', ids = split(h[5]), node = h[6] or ''}
end
local function shares(a, b)
  for k in pairs(a) do if b[k] then return true end end
  return false
end
local function accepts(who, other)
  if now - who.since >= pref_wait then return true end
  if next(who.interests) ~= nil and not shares(who.interests, other.interests) then return false end
  return who.language == '' or other.language == '' or other.language == who.language
end
local function pairkey(a, b)
  if a < b then return prefix .. 'parted:' .. a .. '|' .. b end
  return prefix .. 'parted:' .. b .. '|' .. a
end
local function blocks(a, b)
  -- a's session and device keys (never its IP) each hold what a blocked, until when.
  for _, ka in ipairs(a.ids) do
    local kind = string.sub(ka, 1, 2)
    if kind == 's:' or kind == 'd:' then
      for _, kb in ipairs(b.ids) do
        local ends = redis.call('ZSCORE', prefix .. 'blk:' .. ka, kb)
        if ends and tonumber(ends) > now then return true end
      end
    end
  end
  return false
end
local function blocked(a, b)
  return blocks(a, b) or blocks(b, a)
end
local function shared(a, b)
  local out = {}
  for k in pairs(a.interests) do if b.interests[k] then out[#out + 1] = k end end
  table.sort(out)
  return table.concat(out, ',')
end
local function drop(id, mode)
  redis.call('ZREM', prefix .. 'q:' .. mode, id)
  redis.call('DEL', prefix .. 't:' .. id)
end

if op == 'parted' then
  redis.call('SET', pairkey(visitor, ARGV[4]), now, 'PX', cooldown)
  return {'ok'}
end

local me
if op == 'enqueue' then
  -- A visitor back in the same queue (a resumed visit) keeps its place in line.
  local since = now
  local old = redis.call('HMGET', prefix .. 't:' .. visitor, 'mode', 'since')
  if old[1] then
    if old[1] == ARGV[4] then since = tonumber(old[2]) end
    drop(visitor, old[1])
  end
  me = {id = visitor, mode = ARGV[4], since = since, interests = set(split(ARGV[6])),
        raw_interests = ARGV[6], language = ARGV[7], ids = split(ARGV[8]), node = ARGV[11]}
else
  me = load(visitor)
  if not me then return {'gone'} end
end
local queue = prefix .. 'q:' .. me.mode
local candidates = redis.call('ZRANGE', queue, 0, scan_limit - 1)
for _, c in ipairs(candidates) do
  if c ~= visitor and redis.call('EXISTS', pairkey(visitor, c)) == 0 then
    local other = load(c)
    if not other then
      redis.call('ZREM', queue, c)
    elseif other.node ~= '' and redis.call('EXISTS', prefix .. 'node:' .. other.node) == 0 then
      drop(c, other.mode)  -- its node is dead: a stale ticket
    elseif accepts(me, other) and accepts(other, me) and not blocked(me, other) then
      drop(c, other.mode)
      if op == 'try' then drop(visitor, me.mode) end
      return {'paired', c, other.node, shared(me, other)}
    end
  end
end
if op == 'enqueue' then
  redis.call('ZADD', queue, me.since, visitor)
  redis.call('HSET', prefix .. 't:' .. visitor, 'mode', me.mode, 'since', me.since,
             'interests', ARGV[6], 'language', ARGV[7], 'ids', ARGV[8], 'node', ARGV[11])
end
local retry = -1
if next(me.interests) ~= nil or me.language ~= '' then
  local left = me.since + pref_wait - now
  if left > 0 then retry = left end
end
for _, c in ipairs(candidates) do
  if c ~= visitor then
    local ttl = redis.call('PTTL', pairkey(visitor, c))
    if ttl > 0 and (retry < 0 or ttl < retry) then retry = ttl end
  end
end
return {'queued', tostring(retry)}
"""


@dataclass(frozen=True)
class Pairing:
    """The outcome of an attempt to pair a visitor."""

    partner: str | None
    """The partner's id (already out of the queue), or None if the visitor waits."""
    partner_node: str = ""
    """The node holding the partner's WebSocket."""
    shared_interests: tuple[str, ...] = ()
    retry_in: float | None = None
    """When nothing matched: seconds until a retry might succeed (None: nothing will
    change by itself)."""
    gone: bool = False
    """``try_pair`` only: the visitor is no longer queued (someone claimed it)."""


class RedisMatchmaker:
    """Async matchmaking over Redis; one instance per node."""

    def __init__(
        self,
        redis: Redis,
        node: str,
        prefix: str = "duet:",
        rematch_cooldown: float = 10.0,
        preference_wait: float = 5.0,
        scan_limit: int = 200,
    ) -> None:
        self.redis = redis
        self.node = node
        self.prefix = prefix
        self.rematch_cooldown = rematch_cooldown
        self.preference_wait = preference_wait
        self.scan_limit = scan_limit
        self._script = redis.register_script(_PAIR_SCRIPT)

    async def enqueue(
        self,
        visitor: str,
        mode: Mode,
        interests: Iterable[str] = (),
        language: str | None = None,
        identities: Iterable[str] = (),
    ) -> Pairing:
        """Pair ``visitor`` with the longest-waiting acceptable visitor, or queue it."""
        return await self._run("enqueue", visitor, mode, interests, language, identities)

    async def try_pair(self, visitor: str) -> Pairing:
        """Try again to pair a waiting visitor (after its ``retry_in``)."""
        return await self._run("try", visitor, "video", (), None, ())

    async def parted(self, a: str, b: str) -> None:
        """``a`` and ``b`` just ended a match: they wait out the cooldown before meeting."""
        await self._script(args=self._args("parted", a, b, (), None, ()))

    async def remove(self, visitor: str) -> bool:
        mode = await self.redis.hget(self.prefix + "t:" + visitor, "mode")
        if mode is None:
            return False
        name = mode.decode() if isinstance(mode, bytes) else str(mode)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.prefix + "q:" + name, visitor)
            pipe.delete(self.prefix + "t:" + visitor)
            await pipe.execute()
        return True

    async def waiting(self, mode: Mode) -> int:
        return int(await self.redis.zcard(self.prefix + "q:" + mode))

    async def block(self, blockers: Iterable[str], blocked: Iterable[tuple[str, float]]) -> None:
        """``blockers`` (session and device keys) never meet ``blocked`` identities, each
        until its ``ttl`` in seconds has passed (a blocked IP is forgotten sooner)."""
        targets = list(blocked)
        keys = list(blockers)
        if not targets or not keys:
            return
        now_s, now_us = await self.redis.time()
        now_ms = int(now_s) * 1000 + int(now_us) // 1000
        longest = max(ttl for _, ttl in targets)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                name = self.prefix + "blk:" + key
                pipe.zadd(name, {target: now_ms + int(ttl * 1000) for target, ttl in targets})
                pipe.zremrangebyscore(name, "-inf", now_ms)
                pipe.pexpire(name, int(longest * 1000))
            await pipe.execute()

    def _args(
        self,
        op: str,
        visitor: str,
        mode: str,
        interests: Iterable[str],
        language: str | None,
        identities: Iterable[str],
    ) -> list[str]:
        return [
            self.prefix,
            op,
            visitor,
            mode,
            "",
            ",".join(sorted(set(interests))),
            language or "",
            ",".join(identities),
            str(int(self.preference_wait * 1000)),
            str(self.scan_limit),
            self.node,
            str(max(1, int(self.rematch_cooldown * 1000))),
        ]

    async def _run(
        self,
        op: str,
        visitor: str,
        mode: str,
        interests: Iterable[str],
        language: str | None,
        identities: Iterable[str],
    ) -> Pairing:
        reply = await self._script(
            args=self._args(op, visitor, mode, interests, language, identities)
        )
        kind = _text(reply[0])
        if kind == "paired":
            shared = tuple(x for x in _text(reply[3]).split(",") if x)
            return Pairing(_text(reply[1]), _text(reply[2]), shared)
        if kind == "queued":
            retry = float(_text(reply[1]))
            return Pairing(None, retry_in=None if retry < 0 else retry / 1000)
        return Pairing(None, gone=True)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
