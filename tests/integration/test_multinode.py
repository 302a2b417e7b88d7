"""Several `duet serve` nodes sharing a real redis-server: callers on different nodes meet,
pairing is atomic under races, a dead node's partners are re-queued, and a visitor whose
node restarted keeps its place in the shared queue."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.caller import Caller, DecodeErrors
from tests.support.datastores import Redis as RedisServer
from tests.support.datastores import run_redis
from tests.support.net import free_port
from tests.support.servers import DuetServer, run_duet

RED, GREEN = (210, 40, 40), (40, 200, 60)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with run_redis(tmp_path) as server:
        yield server


def _node_env(redis: RedisServer, tmp: Path, node: str) -> dict[str, str]:
    return {
        "DUET_REDIS_URL": redis.url,
        "DUET_NODE_ID": node,
        # The nodes of one installation share their key (tokens and pipe subscriptions of
        # one node are checked by the others); each would otherwise make its own.
        "DUET_SECRET_KEY": "multinode-test-secret",
        # One database for the cluster (a shared SQLite file here; Postgres in production).
        "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/cluster.sqlite3",
        "DUET_MATCHING__REMATCH_COOLDOWN_S": "30",
        # Every test caller comes from 127.0.0.1, and the limits are shared by the nodes.
        "DUET_LIMITS__SESSIONS_PER_IP": "1000 per minute",
        "DUET_LIMITS__WS_CONNECTS_PER_IP": "1000 per minute",
    }


@contextlib.contextmanager
def _nodes(redis: RedisServer, tmp: Path, count: int = 2) -> Iterator[list[DuetServer]]:
    with contextlib.ExitStack() as stack:
        servers = []
        for index in range(count):
            directory = tmp / f"node{index}"
            directory.mkdir(exist_ok=True)
            env = _node_env(redis, tmp, f"node{index}")
            servers.append(stack.enter_context(run_duet(directory, env)))
        yield servers


async def test_callers_on_two_nodes_meet_see_each_other_and_chat(
    redis_server: RedisServer,
    tmp_path: Path,
    loopback_only: None,
    callers: list[object],
    decode_errors: DecodeErrors,
) -> None:
    with _nodes(redis_server, tmp_path) as (one, two):
        a = await Caller(one.ws_url, RED, name="Ann").connect()
        b = await Caller(two.ws_url, GREEN, name="Bob").connect()
        callers.extend([a, b])
        await a.join("video")
        await a.wait_for("queued")
        await b.join("video")
        matched_a = await a.wait_for("matched")
        matched_b = await b.wait_for("matched")
        assert matched_a["match"] == matched_b["match"]
        assert matched_a["partner_name"] == "Bob" and matched_b["partner_name"] == "Ann"
        # Media crosses from one node's SFU to the other's through their pipes.
        await a.wait_frames_like(GREEN, count=15, timeout=20)
        await b.wait_frames_like(RED, count=15, timeout=20)
        assert decode_errors.count == 0
        await a.send({"type": "typing", "on": True})
        assert (await b.wait_for("typing"))["on"] is True
        await b.send({"type": "chat", "text": "hello from node two"})
        assert (await a.wait_for("chat"))["text"] == "hello from node two"
        # Next on one node: the partner on the other is told and goes back to matching.
        await a.send({"type": "next"})
        assert (await b.wait_for("partner_left"))["reason"] == "next"
        await b.wait_for("queued")
        await a.wait_for("queued")


async def test_racing_nodes_never_pair_anyone_twice(
    redis_server: RedisServer, tmp_path: Path, callers: list[object]
) -> None:
    with _nodes(redis_server, tmp_path) as nodes:
        group = [Caller(nodes[i % 2].ws_url) for i in range(16)]
        await asyncio.gather(*(c.connect() for c in group))
        callers.extend(group)
        await asyncio.gather(*(c.join("text") for c in group))
        matched = await asyncio.gather(*(c.wait_for("matched", timeout=20) for c in group))
        per_match = Counter(m["match"] for m in matched)
        assert set(per_match.values()) == {2}, per_match  # every match has exactly two
        for caller in group:
            assert caller.count("matched") == 1  # nobody is in two matches


async def test_a_dead_nodes_partners_are_told_and_requeued(
    redis_server: RedisServer, tmp_path: Path, callers: list[object]
) -> None:
    with _nodes(redis_server, tmp_path) as (one, two):
        a = await Caller(one.ws_url).connect()
        b = await Caller(two.ws_url).connect()
        callers.extend([a, b])
        await a.join("text")
        await a.wait_for("queued")
        await b.join("text")
        await a.wait_for("matched")
        await b.wait_for("matched")
        two.process.send_signal(signal.SIGKILL)
        two.process.wait(5)
        left = await a.wait_for("partner_left", timeout=15)
        assert left["reason"] == "disconnected"
        await a.wait_for("queued", timeout=5)
        # And a newcomer on the surviving node meets it.
        c = await Caller(one.ws_url).connect()
        callers.append(c)
        await c.join("text")
        assert (await a.wait_for("matched", timeout=10))["match"] == (
            await c.wait_for("matched", timeout=10)
        )["match"]


async def test_a_restarted_node_gives_its_visitor_back_its_place_in_line(
    redis_server: RedisServer, tmp_path: Path, callers: list[object]
) -> None:
    port = free_port()
    directory = tmp_path / "restarting"
    directory.mkdir()
    env = _node_env(redis_server, tmp_path, "restarting")
    redis = Redis.from_url(redis_server.url)
    try:
        with run_duet(directory, env, port=port) as first:
            early = await Caller(first.ws_url, device="device-early-0123456789").connect()
            await early.join("text")
            await early.wait_for("queued")
            place = await redis.zscore("duet:q:text", early.visitor or "")
            assert place is not None
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(5)
        with (
            _nodes(redis_server, tmp_path, count=1) as (other,),
            run_duet(directory, env, port=port) as again,
        ):
            # Someone joins elsewhere while the restarted node's visitor is away.
            late = await Caller(other.ws_url).connect()
            callers.append(late)
            # The early visitor reconnects (its page does it by itself) with its resume
            # token: same visitor id, and its ticket kept its place.
            await early.reconnect(again.ws_url)
            callers.append(early)
            await early.join("text")
            await early.wait_for("queued")
            assert await redis.zscore("duet:q:text", early.visitor or "") == place
            await late.join("text")
            first_in_line = await late.wait_for("matched", timeout=10)
            assert first_in_line["match"] == (await early.wait_for("matched"))["match"]
    finally:
        await redis.aclose()


async def test_every_node_counts_the_visitors_of_all_nodes(
    redis_server: RedisServer, tmp_path: Path, callers: list[object]
) -> None:
    with _nodes(redis_server, tmp_path) as (one, two):
        for server in (one, one, two):
            caller = await Caller(server.ws_url).connect()
            callers.append(caller)
        deadline = time.monotonic() + 10
        async with httpx.AsyncClient() as http:
            while True:
                counts = [
                    (await http.get(s.url + "/healthz")).json()["online_all_nodes"]
                    for s in (one, two)
                ]
                if counts == [3, 3]:
                    break
                assert time.monotonic() < deadline, counts
                await asyncio.sleep(0.2)
