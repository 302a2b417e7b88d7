"""Messages between nodes, and which nodes are alive, over Redis.

Every node subscribes to its own channel (``{prefix}to:{node}``) and can publish to any
other node's. Messages are small JSON objects with a ``kind``; the lobby decides what they
mean (a match offered to a visitor on another node, a partner who left, a chat line to
relay). A message for this node itself is delivered locally without Redis.

Liveness: each node refreshes ``{prefix}node:{node}`` (a key with a short TTL) every
``beat`` seconds and lists itself in ``{prefix}nodes``. Each node watches the nodes its own
visitors depend on (their partners' nodes, from :attr:`NodeBus.watched`): when one's key
has expired, the ``dead_handlers`` run once, and the node ends its own visitors' matches
with visitors there. No consensus is needed: each node only acts on its own visitors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from duet.clock import SYSTEM_CLOCK
from duet.tasks import TaskSet

logger = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None] | None]
DeadHandler = Callable[[str], None]

MAX_MESSAGE_BYTES = 256 * 1024


class NodeBus:
    def __init__(
        self,
        redis: Redis,
        node: str,
        prefix: str = "duet:",
        beat: float = 1.0,
        ttl: float = 4.0,
        handler: Handler | None = None,
        watched: Callable[[], set[str]] = set,
        dead_handlers: Sequence[DeadHandler] = (),
        sleep: Callable[[float], Awaitable[None]] = SYSTEM_CLOCK.sleep,
    ) -> None:
        """``handler`` receives every message sent to this node; ``watched``: the other
        nodes this node's visitors depend on; ``dead_handlers`` run once when one of those
        stops beating. ``sleep``: the node clock's (:meth:`duet.clock.Clock.sleep`)."""
        self.sleep = sleep
        self.redis = redis
        self.node = node
        self.prefix = prefix
        self.beat = beat
        self.ttl = ttl
        self.handler = handler
        self.dead_handlers: list[DeadHandler] = list(dead_handlers)
        self.watched = watched
        self.sent = 0
        self.received = 0
        self._known_dead: set[str] = set()
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._handling = TaskSet()

    def channel(self, node: str) -> str:
        return f"{self.prefix}to:{node}"

    async def start(self) -> None:
        """Announce this node, subscribe to its channel and start beating."""
        await self._heartbeat()
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel(self.node))
        self._tasks = [
            asyncio.ensure_future(self._listen()),
            asyncio.ensure_future(self._beat()),
        ]

    async def close(self, forget: bool = True) -> None:
        """Stop; with ``forget`` the node leaves at once (else its key simply expires)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if forget:
            with contextlib.suppress(Exception):
                await self.redis.delete(f"{self.prefix}node:{self.node}")
                await self.redis.srem(f"{self.prefix}nodes", self.node)

    async def send(self, node: str, message: Message) -> None:
        """Deliver ``message`` to ``node`` (this node: directly, in a task)."""
        self.sent += 1
        if node == self.node:
            self._dispatch(dict(message))
            return
        data = json.dumps(message, separators=(",", ":"))
        await self.redis.publish(self.channel(node), data)

    async def alive(self, node: str) -> bool:
        return node == self.node or bool(await self.redis.exists(f"{self.prefix}node:{node}"))

    async def nodes(self) -> list[str]:
        members = await self.redis.smembers(f"{self.prefix}nodes")
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def _dispatch(self, message: Message) -> None:
        if self.handler is None:
            return
        self.received += 1
        try:
            result = self.handler(message)
        except Exception:
            logger.exception("bus message handling failed (%s)", message.get("kind"))
            return
        if result is not None:
            self._handling.spawn(self._finish(result, message))

    @staticmethod
    async def _finish(result: Awaitable[None], message: Message) -> None:
        try:
            await result
        except Exception:
            logger.exception("bus message handling failed (%s)", message.get("kind"))

    async def _listen(self) -> None:
        assert self._pubsub is not None  # set in start(), before this task exists
        while True:
            try:
                item = await self._pubsub.get_message(timeout=1.0)
            except (ConnectionError, OSError) as exc:
                logger.error("bus subscription lost (%s); retrying", exc)
                await self.sleep(1.0)
                continue
            if item is None or item.get("type") != "message":
                continue
            data = item["data"]
            if len(data) > MAX_MESSAGE_BYTES:
                continue
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if isinstance(message, dict):
                self._dispatch(message)

    async def _heartbeat(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self.prefix}node:{self.node}", "1", px=int(self.ttl * 1000))
            pipe.sadd(f"{self.prefix}nodes", self.node)
            await pipe.execute()

    async def _beat(self) -> None:
        while True:
            await self.sleep(self.beat)
            try:
                await self._heartbeat()
                await self._find_dead()
            except (ConnectionError, OSError) as exc:
                logger.error("heartbeat failed: %s", exc)

    async def _find_dead(self) -> None:
        for node in sorted(self.watched() - {self.node}):
            if node in self._known_dead or await self.alive(node):
                continue
            self._known_dead.add(node)
            logger.warning("node %s stopped beating: it is dead", node)
            for handler in self.dead_handlers:
                try:
                    handler(node)
                except Exception:
                    logger.exception("dead-node handler failed")
        # A node that comes back (same id, restarted) is alive again.
        for node in list(self._known_dead):
            if await self.alive(node):
                self._known_dead.discard(node)
        # Tidy the list of nodes (anyone may: removing a dead one twice is harmless).
        for node in await self.nodes():
            if node != self.node and not await self.alive(node):
                await self.redis.srem(f"{self.prefix}nodes", node)
