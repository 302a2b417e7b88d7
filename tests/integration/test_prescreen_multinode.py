"""The pre-screen across nodes: a partner on another node is screened by its own node
(which holds its media) and the safe verdict opens the link here over the node bus."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.integration.test_moderation_pipeline import _env, _wait_workers
from tests.integration.test_multinode import _node_env, redis_server  # noqa: F401
from tests.support.caller import Caller
from tests.support.datastores import Redis as RedisServer
from tests.support.servers import DuetServer, run_duet

RED, GREEN, BLUE = (210, 40, 40), (40, 200, 60), (40, 60, 210)


@contextlib.contextmanager
def _screening_nodes(redis: RedisServer, tmp: Path) -> Iterator[list[DuetServer]]:
    with contextlib.ExitStack() as stack:
        servers = []
        for index in range(2):
            directory = tmp / f"node{index}"
            directory.mkdir(exist_ok=True)
            env = {
                **_node_env(redis, tmp, f"node{index}"),
                **_env(
                    DUET_MODERATION__PRESCREEN="true",
                    DUET_MODERATION__SCHEDULE_OFFSETS_S="[1.0, 60.0]",
                    DUET_MODERATION__PERIODIC_S="0",
                    DUET_MODERATION__EVIDENCE_DIR=str(directory / "evidence"),
                ),
            }
            servers.append(stack.enter_context(run_duet(directory, env)))
        for server in servers:
            _wait_workers(server)
        yield servers


async def test_partners_on_two_nodes_open_after_each_nodes_check(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    loopback_only: None,
    callers: list[object],
) -> None:
    with _screening_nodes(redis_server, tmp_path) as (one, two):
        green = await Caller(one.ws_url, GREEN).connect()
        blue = await Caller(two.ws_url, BLUE).connect()
        callers.extend([green, blue])
        await green.join("video")
        await green.wait_for("queued")
        await blue.join("video")
        await green.wait_for("matched")
        await blue.wait_for("matched")
        await green.wait_frames_like(BLUE, count=10, timeout=20)
        await blue.wait_frames_like(GREEN, count=10, timeout=20)
        for caller in (green, blue):
            await caller.wait_for("video_state", side="partner", state="open")

        # An explicit caller on node two: its partner on node one never sees it.
        red = await Caller(two.ws_url, RED).connect()
        callers.append(red)
        await blue.close()  # so that the explicit caller can only meet green
        await green.wait_for("partner_left")
        await green.wait_for("queued")
        await red.join("video")
        await red.wait_for("banned", timeout=15)
        await green.wait_for("partner_left", timeout=5, reason="ended")
        assert green.frames_like(RED) == 0
