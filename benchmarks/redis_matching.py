"""``duet bench matching --redis URL``: pairings per second through the shared Redis queues.

``--nodes`` processes stand in for Duet nodes, each with its own Redis connection and
:class:`~signaling.routing.matchmaker.RedisMatchmaker` (the same Lua script the nodes
run). Each keeps ``--concurrency`` arrivals in flight: a new visitor joins (``enqueue``);
when the script pairs it with a waiting one (on any node), the pair's cooldown is written
(``parted``, as when a match ends) and both are gone. So every pairing costs two atomic
claims and one cooldown write, all real round trips to Redis, and visitors of the two
nodes race for the same waiting visitors the whole time. Keys go under a fresh prefix and
are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.stats import Summary


@dataclass(frozen=True)
class RedisMatchingOptions:
    url: str
    nodes: int = 2
    duration: float = 10.0
    concurrency: int = 32
    """Arrivals in flight per node process."""
    cooldown: float = 10.0
    json_path: Path | None = None

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.concurrency < 1 or self.duration <= 0:
            raise ValueError("--nodes and --concurrency must be >= 1, --duration > 0")


def _node(index: int, options: RedisMatchingOptions, prefix: str, results: Any) -> None:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    results.put(runner(_drive(index, options, prefix)))


async def _drive(index: int, options: RedisMatchingOptions, prefix: str) -> dict[str, Any]:
    from redis.asyncio import Redis

    from signaling.routing.matchmaker import RedisMatchmaker

    redis = Redis.from_url(options.url)
    node = f"bench{index}"
    await redis.set(prefix + "node:" + node, "1", ex=int(options.duration) + 60)
    matchmaker = RedisMatchmaker(redis, node, prefix=prefix, rematch_cooldown=options.cooldown)
    latencies: list[float] = []
    pairings = 0
    deadline = time.monotonic() + options.duration

    async def arrivals(slot: int) -> None:
        nonlocal pairings
        count = 0
        while time.monotonic() < deadline:
            count += 1
            visitor = f"n{index}s{slot}v{count}"
            started = time.perf_counter()
            pairing = await matchmaker.enqueue(visitor, "video")
            latencies.append((time.perf_counter() - started) * 1000)
            if pairing.partner is not None:
                pairings += 1
                await matchmaker.parted(visitor, pairing.partner)

    begun = time.perf_counter()
    await asyncio.gather(*(arrivals(slot) for slot in range(options.concurrency)))
    wall = time.perf_counter() - begun
    await redis.aclose()
    return {"pairings": pairings, "wall": wall, "latencies_ms": latencies}


def run_redis_matching(options: RedisMatchingOptions, console: Console | None = None) -> int:
    console = console or Console()
    prefix = f"bench{secrets.token_hex(4)}:"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=_node, args=(i, options, prefix, results), daemon=True)
        for i in range(options.nodes)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=options.duration + 120) for _ in processes]
    for process in processes:
        process.join(10)
    _cleanup(options.url, prefix)
    pairings = sum(o["pairings"] for o in outcomes)
    wall = max(o["wall"] for o in outcomes)
    latency = Summary.of([x for o in outcomes for x in o["latencies_ms"]])
    report = {
        "benchmark": "matching-redis",
        "args": {
            "nodes": options.nodes,
            "duration": options.duration,
            "concurrency": options.concurrency,
            "cooldown": options.cooldown,
        },
        "pairings": pairings,
        "pairings_per_s": round(pairings / wall) if wall else 0,
        "enqueue_ms": {
            "p50": None if latency.p50 is None else round(latency.p50, 3),
            "p95": None if latency.p95 is None else round(latency.p95, 3),
        },
        "goal_3000_per_s": pairings / wall >= 3000 if wall else False,
    }
    table = Table(title=f"duet bench matching (Redis): {options.nodes} node process(es)")
    for column in ("pairings", "pairings/s", "enqueue p50 ms", "enqueue p95 ms"):
        table.add_column(column, justify="right")
    table.add_row(
        str(pairings),
        str(report["pairings_per_s"]),
        str(report["enqueue_ms"]["p50"]),
        str(report["enqueue_ms"]["p95"]),
    )
    console.print(table)
    console.print(f"goal >= 3000 pairings/s: {'met' if report['goal_3000_per_s'] else 'NOT met'}")
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _cleanup(url: str, prefix: str) -> None:
    async def clean() -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(url)
        async for key in redis.scan_iter(match=prefix + "*", count=1000):
            await redis.delete(key)
        await redis.aclose()

    asyncio.run(clean())
