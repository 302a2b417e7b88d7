"""The Redis matchmaker against a real redis-server: same rules as the in-memory one,
and atomic under concurrency (no visitor is ever paired twice)."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from signaling.routing.matchmaker import RedisMatchmaker
from tests.support.datastores import Redis as RedisServer
from tests.support.datastores import run_redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with run_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}:"


async def _node(redis: Redis, prefix: str, node: str = "n1", **kw: float) -> RedisMatchmaker:
    await redis.set(prefix + "node:" + node, "1", ex=60)
    return RedisMatchmaker(redis, node, prefix=prefix, **kw)  # type: ignore[arg-type]


async def test_first_waits_second_pairs_with_the_longest_waiting(redis: Redis, prefix: str) -> None:
    mm = await _node(redis, prefix)
    assert (await mm.enqueue("a", "video")).partner is None
    assert (await mm.enqueue("b", "text")).partner is None
    pairing = await mm.enqueue("c", "video")
    assert pairing.partner == "a" and pairing.partner_node == "n1"
    assert await mm.waiting("video") == 0 and await mm.waiting("text") == 1
    assert (await mm.enqueue("d", "text")).partner == "b"


async def test_leave_while_waiting(redis: Redis, prefix: str) -> None:
    mm = await _node(redis, prefix)
    await mm.enqueue("a", "video")
    assert await mm.remove("a") is True
    assert await mm.remove("a") is False
    assert (await mm.enqueue("b", "video")).partner is None


async def test_cooldown_holds_recent_partners_apart_then_releases_them(
    redis: Redis, prefix: str
) -> None:
    mm = await _node(redis, prefix, rematch_cooldown=0.4)
    await mm.parted("a", "b")
    assert (await mm.enqueue("a", "video")).partner is None
    waiting = await mm.enqueue("b", "video")
    assert waiting.partner is None
    assert waiting.retry_in is not None and 0.2 < waiting.retry_in <= 0.4
    assert (await mm.enqueue("c", "video")).partner == "a"  # someone else is fine
    await asyncio.sleep(0.45)
    await mm.enqueue("a", "video")  # a is back: b can have it now
    assert await mm.waiting("video") == 0


async def test_shared_interests_first_then_anyone_after_the_wait(redis: Redis, prefix: str) -> None:
    mm = await _node(redis, prefix, preference_wait=0.3)
    assert (await mm.enqueue("a", "text", interests=["chess"])).partner is None
    waiting = await mm.enqueue("b", "text", interests=["music"])
    assert waiting.partner is None and waiting.retry_in is not None
    pairing = await mm.enqueue("c", "text", interests=["music", "art"])
    assert pairing.partner == "b" and pairing.shared_interests == ("music",)
    assert (await mm.enqueue("d", "text")).partner is None  # a holds out for chess
    await asyncio.sleep(0.35)
    assert (await mm.try_pair("a")).partner == "d"


async def test_language_is_a_soft_filter(redis: Redis, prefix: str) -> None:
    mm = await _node(redis, prefix, preference_wait=5)
    await mm.enqueue("a", "video", language="pt")
    assert (await mm.enqueue("b", "video", language="en")).partner is None
    assert (await mm.enqueue("c", "video", language="en")).partner == "b"
    assert (await mm.enqueue("d", "video")).partner == "a"


async def test_blocks_are_never_matched(redis: Redis, prefix: str) -> None:
    mm = await _node(redis, prefix)
    await mm.block(["s:alice"], [("s:bob", 60), ("i:10.0.0.2", 60)])
    await mm.enqueue("a", "video", identities=["s:alice", "i:10.0.0.1"])
    assert (await mm.enqueue("b", "video", identities=["s:bob"])).partner is None
    assert (await mm.enqueue("c", "video", identities=["s:carol", "i:10.0.0.2"])).partner == "b"
    assert (await mm.enqueue("d", "video", identities=["s:dave"])).partner == "a"


async def test_tickets_of_dead_nodes_are_dropped(redis: Redis, prefix: str) -> None:
    dying = await _node(redis, prefix, node="n-dead")
    await dying.enqueue("ghost", "video")
    await redis.delete(prefix + "node:n-dead")  # its heartbeat expired
    alive = await _node(redis, prefix, node="n-live")
    assert (await alive.enqueue("real", "video")).partner is None
    assert await alive.waiting("video") == 1  # the ghost is gone, the newcomer waits


async def test_concurrent_nodes_never_pair_anyone_twice(
    redis_server: RedisServer, prefix: str
) -> None:
    clients = [Redis.from_url(redis_server.url) for _ in range(4)]
    try:
        nodes = [await _node(c, prefix, node=f"n{i}") for i, c in enumerate(clients)]
        visitors = [f"v{i}" for i in range(600)]
        random.Random(7).shuffle(visitors)
        pairs: list[tuple[str, str]] = []
        in_flight = asyncio.Semaphore(64)

        async def arrive(index: int, visitor: str) -> None:
            async with in_flight:
                pairing = await nodes[index % len(nodes)].enqueue(visitor, "video")
            if pairing.partner is not None:
                pairs.append((visitor, pairing.partner))

        await asyncio.gather(*(arrive(i, v) for i, v in enumerate(visitors)))
        seen = [v for pair in pairs for v in pair]
        assert len(seen) == len(set(seen)), "a visitor was paired twice"
        assert len(pairs) == 300 and await nodes[0].waiting("video") == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_blocks_end_with_their_ttl(redis: Redis, prefix: str) -> None:
    mm = await _node(redis, prefix)
    await mm.block(["d:dev-a"], [("i:10.9.9.9", 0.3)])
    await mm.enqueue("a", "video", identities=["d:dev-a", "i:10.1.1.1"])
    assert (await mm.enqueue("b", "video", identities=["i:10.9.9.9"])).partner is None
    await asyncio.sleep(0.35)
    assert (await mm.enqueue("c", "video", identities=["i:10.9.9.9"])).partner == "a"


def test_bench_matching_over_redis_reports_pairings(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    out = tmp_path / "redis-matching.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "duet.cli",
            "bench",
            "matching",
            "--redis",
            redis_server.url,
            "--nodes",
            "2",
            "--duration",
            "1.5",
            "--concurrency",
            "8",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["pairings"] > 50 and report["pairings_per_s"] > 0
    assert report["enqueue_ms"]["p50"] is not None
