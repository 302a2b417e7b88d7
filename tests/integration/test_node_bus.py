"""Messages between nodes and liveness, through a real redis-server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from signaling.routing.bus import NodeBus
from tests.support.datastores import Redis as RedisServer
from tests.support.datastores import run_redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with run_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


async def _bus(server: RedisServer, node: str, prefix: str) -> tuple[NodeBus, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    bus = NodeBus(Redis.from_url(server.url), node, prefix=prefix, beat=0.1, ttl=0.4)
    bus.handler = got.append
    await bus.start()
    return bus, got


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_messages_reach_the_node_they_are_sent_to(redis_server: RedisServer) -> None:
    prefix = f"b{secrets.token_hex(3)}:"
    one, got_one = await _bus(redis_server, "one", prefix)
    two, got_two = await _bus(redis_server, "two", prefix)
    try:
        await one.send("two", {"kind": "chat", "visitor": "v2", "text": "héllo"})
        await one.send("one", {"kind": "note"})
        await _until(lambda: got_two and got_one)
        assert got_two == [{"kind": "chat", "visitor": "v2", "text": "héllo"}]
        assert got_one == [{"kind": "note"}]
        assert await one.nodes() == ["one", "two"]
    finally:
        await one.close()
        await two.close()


async def test_a_watched_node_that_stops_beating_is_reported_dead_once(
    redis_server: RedisServer,
) -> None:
    prefix = f"b{secrets.token_hex(3)}:"
    one, _ = await _bus(redis_server, "one", prefix)
    two, _ = await _bus(redis_server, "two", prefix)
    dead: list[str] = []
    one.watched = lambda: {"two"}
    one.dead_handlers.append(dead.append)
    try:
        await asyncio.sleep(0.5)
        assert dead == []
        await two.close(forget=False)  # killed: its key just expires
        await _until(lambda: dead == ["two"])
        await asyncio.sleep(0.5)
        assert dead == ["two"]
        assert await one.nodes() == ["one"]
        # The same node id comes back: alive again, and reported again if it dies again.
        three, _ = await _bus(redis_server, "two", prefix)
        await asyncio.sleep(0.3)
        assert await one.alive("two")
        await three.close(forget=False)
        await _until(lambda: dead == ["two", "two"])
    finally:
        await one.close()


async def test_garbage_on_a_channel_is_ignored(redis_server: RedisServer) -> None:
    prefix = f"b{secrets.token_hex(3)}:"
    one, got = await _bus(redis_server, "one", prefix)
    raw = Redis.from_url(redis_server.url)
    try:
        for junk in (b"not json", b"[1,2]", b"\xff\xfe", b"x" * 300_000):
            await raw.publish(one.channel("one"), junk)
        await raw.publish(one.channel("one"), b'{"kind":"ok"}')
        await _until(lambda: got)
        assert got == [{"kind": "ok"}]
    finally:
        await raw.aclose()
        await one.close()
