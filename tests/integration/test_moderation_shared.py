"""Budgets shared by all nodes through a real redis-server: two nodes' moderators together
stay under one daily budget and one global rate."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from duet.person import Person
from moderation import MemoryStore, Moderation, ModerationSettings
from moderation.clock import FakeClock
from moderation.shared import SharedBudget, SharedStrikes, SharedWeights
from tests.support.datastores import run_redis
from tests.unit.test_moderator import Checker, Enforcer, Frames


def _node(
    tmp_path: Path, clock: FakeClock, redis: Redis, **overrides: object
) -> tuple[Moderation, Frames]:
    settings = ModerationSettings(
        evidence_dir=tmp_path,
        schedule_offsets_s=[1, 3, 6],
        periodic_s=0,
        partner_stagger_s=0.5,
        **overrides,  # type: ignore[arg-type]
    )
    shared = SharedBudget(redis, settings.max_checks_per_s, settings.daily_budget)
    store = MemoryStore()
    frames = Frames(clock)
    moderation = Moderation(
        settings, frames, Enforcer(store), store, clock=clock, checker=Checker(), shared=shared
    )
    return moderation, frames


async def test_two_nodes_share_one_daily_budget(tmp_path: Path) -> None:
    with run_redis(tmp_path) as server:
        redis = Redis.from_url(server.url)
        clock = FakeClock()
        one, _ = _node(tmp_path, clock, redis, daily_budget=4)
        two, _ = _node(tmp_path, clock, redis, daily_budget=4)
        try:
            one.match_started("m1", Person("v_a", "10.0.0.1"), Person("v_b", "10.0.0.2"))
            two.match_started("m2", Person("v_c", "10.0.0.3"), Person("v_d", "10.0.0.4"))
            await clock.advance(10)
            run = one.stats.checks_run + two.stats.checks_run
            skipped = (
                one.stats.checks_skipped["daily_budget"] + two.stats.checks_skipped["daily_budget"]
            )
            assert (run, skipped) == (4, 8)  # 12 checks were due; each node alone allows 4
            assert one.video is not None and one.video.shared is not None
            assert await one.video.shared.used_today() == 4
        finally:
            await one.close()
            await two.close()
            await redis.aclose()


async def test_nodes_share_one_global_rate(tmp_path: Path) -> None:
    """Five nodes, 1 check per second for all of them: their first checks come within a
    few real milliseconds, so at most two real seconds are touched and at most two run
    (each node's own limiter alone would let all five through)."""
    with run_redis(tmp_path) as server:
        redis = Redis.from_url(server.url)
        clock = FakeClock()
        nodes = [_node(tmp_path, clock, redis, max_checks_per_s=1)[0] for _ in range(5)]
        try:
            for n, node in enumerate(nodes):
                node.match_started(
                    f"m{n}", Person(f"v_{n}a", "10.0.0.1"), Person(f"v_{n}b", "10.0.0.2")
                )
            await clock.advance(1.1)  # the first check of each node's match
            run = sum(node.stats.checks_run for node in nodes)
            limited = sum(node.stats.checks_skipped["rate_limited"] for node in nodes)
            assert run + limited == 5
            assert 1 <= run <= 2, (run, limited)
        finally:
            for node in nodes:
                await node.close()
            await redis.aclose()


async def test_chat_strikes_follow_a_session_to_another_node(tmp_path: Path) -> None:
    with run_redis(tmp_path) as server:
        redis = Redis.from_url(server.url)
        clock = FakeClock()
        text = {"blocked_words": ["frobnicate"], "strikes_to_ban": 2}
        one, _ = _node(tmp_path, clock, redis, text=text)
        two, _ = _node(tmp_path, clock, redis, text=text)
        for node in (one, two):
            node.chat.shared = SharedStrikes(redis, node.settings.text.strike_window_s)
        try:
            # The same session, reconnected to another node (a new visitor id there).
            first = await one.chat_message(Person("v_1", "10.0.0.1", "s_rude"), "m1", "frobnicate")
            assert first.flagged and first.strikes == 1 and not first.banned
            again = await two.chat_message(
                Person("v_2", "10.0.0.1", "s_rude"), "m2", "frobnicate you"
            )
            assert again.strikes == 2 and again.banned
            enforcer = two.sanctions.enforcer
            assert isinstance(enforcer, Enforcer)
            (ban,) = enforcer.bans
            evidence = await two.store.evidence(ban.evidence_id or "")
            assert evidence is not None
            assert (tmp_path / evidence.path).read_text() == "frobnicate\nfrobnicate you"
        finally:
            await one.close()
            await two.close()
            await redis.aclose()


async def test_verbal_report_weights_are_shared_by_all_nodes(tmp_path: Path) -> None:
    with run_redis(tmp_path) as server:
        redis = Redis.from_url(server.url)
        one, two = SharedWeights(redis, 3600), SharedWeights(redis, 3600)
        try:
            assert await one.add("s:target", ("n:10.0.0.1", "s:a", "d:a")) == 1
            # Another node, the same device: the same reporter.
            assert await two.add("s:target", ("n:10.0.0.9", "s:b", "d:a")) == 1
            assert await two.add("s:target", ("n:10.0.0.2", "s:c", "d:c")) == 2
            assert await one.add("s:target", ("n:2001:db8::/64", "s:d", "d:d")) == 3
            assert await one.add("s:other", ("n:10.0.0.1", "s:a", "d:a")) == 1
            await two.forget("s:target")
            assert await one.add("s:target", ("n:10.0.0.1", "s:a", "d:a")) == 1
        finally:
            await redis.aclose()
