"""Presence and the ban cache in a real redis-server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from moderation.records import BanRecord
from signaling.routing.presence import Presence
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


def _ban(minutes: float = 30) -> BanRecord:
    now = datetime.now(UTC)
    return BanRecord(
        id="b_" + secrets.token_hex(4),
        visitor="v_x",
        ip="203.0.113.9",
        session="sess-x",
        device="dev-x",
        reason="explicit",
        source="video",
        created_at=now,
        until=now + timedelta(minutes=minutes),
        evidence_id=None,
    )


async def test_presence_counts_visitors_of_every_node(redis: Redis) -> None:
    prefix = f"p{secrets.token_hex(3)}:"
    one, two = Presence(redis, "one", prefix), Presence(redis, "two", prefix)
    await one.arrived("v_1", "10.0.0.1")
    await one.arrived("v_2", "10.0.0.2")
    await two.arrived("v_3", "10.0.0.3")
    assert await one.online(["one", "two"]) == 3
    assert await two.where("v_3", ["one", "two"]) == "two"
    await one.left("v_1")
    assert await two.online(["one", "two"]) == 2
    assert await one.where("v_1", ["one", "two"]) is None


async def test_a_cached_ban_covers_ip_session_and_device_until_lifted(redis: Redis) -> None:
    presence = Presence(redis, "one", f"p{secrets.token_hex(3)}:")
    ban = _ban()
    assert await presence.cached_ban("203.0.113.9", None, None) is None
    await presence.cache_ban(ban)
    assert (await presence.cached_ban("203.0.113.9", None, None)) == ban
    assert (await presence.cached_ban(None, "sess-x", None)) == ban
    assert (await presence.cached_ban("198.51.100.1", None, "dev-x")) == ban
    assert await presence.cached_ban("198.51.100.1", "other", "other") is None
    await presence.forget_ban(ban)
    assert await presence.cached_ban("203.0.113.9", "sess-x", "dev-x") is None


async def test_an_ended_ban_is_not_cached(redis: Redis) -> None:
    presence = Presence(redis, "one", f"p{secrets.token_hex(3)}:")
    await presence.cache_ban(_ban(minutes=-1))
    assert await presence.cached_ban("203.0.113.9", "sess-x", "dev-x") is None
