"""`duet serve` with SFU worker processes: placement, matches across workers, Next, a
worker killed mid-call, and moderation's tap through a worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.caller import Caller, DecodeErrors
from tests.support.servers import DuetServer, run_duet

RED, GREEN, BLUE, YELLOW = (210, 40, 40), (40, 200, 60), (40, 60, 210), (220, 210, 40)


@pytest.fixture
def cluster(tmp_path: Path, loopback_only: None) -> Iterator[DuetServer]:
    with run_duet(tmp_path, {"DUET_SFU__WORKERS": "2"}) as server:
        yield server


def _health(server: DuetServer) -> dict[str, Any]:
    return httpx.get(server.url + "/healthz").json()  # type: ignore[no-any-return]


def _processes(server: DuetServer) -> list[dict[str, int]]:
    return httpx.get(server.url + "/healthz").json()["sfu_processes"]  # type: ignore[no-any-return]


async def _call(
    server: DuetServer,
    callers: list[object],
    first: tuple[int, int, int],
    second: tuple[int, int, int],
) -> tuple[Caller, Caller]:
    a = await Caller(server.ws_url, first).connect()
    b = await Caller(server.ws_url, second).connect()
    callers.extend([a, b])
    await a.join("video")
    await a.wait_for("offer")
    await b.join("video")
    await a.wait_for("matched")
    await b.wait_for("matched")
    return a, b


async def test_visitors_are_spread_over_workers_and_calls_cross_them(
    cluster: DuetServer, callers: list[object], decode_errors: DecodeErrors
) -> None:
    processes = await asyncio.to_thread(_processes, cluster)
    assert [p["index"] for p in processes] == [0, 1]
    assert len({p["pid"] for p in processes}) == 2 and os.getpid() not in {
        p["pid"] for p in processes
    }
    # The second visitor is placed next to the first (its likely partner, waiting first in
    # line): their call needs no pipe between the workers.
    a, b = await _call(cluster, callers, RED, GREEN)
    await a.wait_frames_like(GREEN, count=20)
    await b.wait_frames_like(RED, count=20)
    placed = await asyncio.to_thread(_processes, cluster)
    assert sorted(p["peers"] for p in placed) == [0, 2]
    # The next pair goes to the other, emptier worker.
    c, _d = await _call(cluster, callers, BLUE, YELLOW)
    await c.wait_frames_like(YELLOW, count=10)
    placed = await asyncio.to_thread(_processes, cluster)
    assert sorted(p["peers"] for p in placed) == [2, 2]
    assert decode_errors.count == 0
    metrics = (await asyncio.to_thread(httpx.get, cluster.url + "/metrics")).text
    assert 'duet_sfu_worker_peers{worker="0"} 2.0' in metrics
    assert 'duet_sfu_worker_cpu_seconds_total{worker="1"}' in metrics
    assert "duet_sfu_pipe_frames_total 0.0" in metrics


async def test_next_across_workers_rewires_without_a_new_offer(
    cluster: DuetServer, callers: list[object], decode_errors: DecodeErrors
) -> None:
    a, _b = await _call(cluster, callers, RED, GREEN)
    await a.wait_frames_like(GREEN, count=10)
    c = await Caller(cluster.ws_url, BLUE).connect()
    callers.append(c)
    await c.join("video")
    await c.wait_for("queued")
    switched = time.monotonic()
    await a.send({"type": "next"})
    await a.wait_for("matched")
    await c.wait_for("matched")
    await a.wait_frames_like(BLUE, count=10, since=switched)
    await c.wait_frames_like(RED, count=10)
    first_blue = a.first_like(BLUE, since=switched)
    assert first_blue is not None and a.frames_like(GREEN, since=first_blue) == 0
    assert a.count("offer") == 1 and c.count("offer") == 1
    assert decode_errors.count == 0
    # a and b shared a worker; c came when nobody waited, onto the other one: a's new
    # call crosses the pipe between the two workers.
    placed = await asyncio.to_thread(_processes, cluster)
    assert sorted(p["peers"] for p in placed) == [1, 2]
    metrics = (await asyncio.to_thread(httpx.get, cluster.url + "/metrics")).text
    pipe = next(line for line in metrics.splitlines() if line.startswith("duet_sfu_pipe_frames"))
    assert float(pipe.split()[-1]) > 0


async def test_a_killed_worker_is_replaced_and_its_calls_recover(
    cluster: DuetServer, callers: list[object]
) -> None:
    a, b = await _call(cluster, callers, RED, GREEN)
    c, d = await _call(cluster, callers, BLUE, YELLOW)
    await a.wait_frames_like(GREEN, count=10)
    await c.wait_frames_like(YELLOW, count=10)
    victim = (await asyncio.to_thread(_processes, cluster))[0]
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()
    # The visitors that were on the dead worker are offered a new connection (restart);
    # every call carries on with the same partners.
    await a.wait_frames_like(GREEN, count=10, since=killed, timeout=30)
    await b.wait_frames_like(RED, count=10, since=killed, timeout=30)
    await c.wait_frames_like(YELLOW, count=10, since=killed, timeout=30)
    await d.wait_frames_like(BLUE, count=10, since=killed, timeout=30)
    restarted = sum(caller.count("offer") - 1 for caller in (a, b, c, d))
    assert restarted == 2  # one visitor of each call sat on the dead worker
    for caller in (a, b, c, d):
        assert caller.count("partner_left") == 0
    processes = await asyncio.to_thread(_processes, cluster)
    assert len(processes) == 2 and victim["pid"] not in {p["pid"] for p in processes}


async def test_moderation_taps_frames_through_a_worker_and_bans(
    tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    env = {
        "DUET_SFU__WORKERS": "2",
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
        "DUET_MODERATION__SCHEDULE_OFFSETS_S": "[0.3, 0.8]",
        "DUET_MODERATION__TAP_TIMEOUT_S": "1.0",
        "DUETTEST_UNSAFE_RGB": "210,40,40",
    }
    with run_duet(tmp_path, env) as server:
        deadline = time.monotonic() + 30
        while (await asyncio.to_thread(_health, server))["moderation"]["workers_ready"] < 1:
            assert time.monotonic() < deadline, "moderation workers never became ready"
            await asyncio.sleep(0.1)
        red, green = await _call(server, callers, RED, GREEN)
        banned = await red.wait_for("banned", timeout=10)
        assert banned["ban"].startswith("b_")
        assert (await green.wait_for("partner_left", timeout=5))["reason"] == "ended"
        placed = await asyncio.to_thread(_processes, server)
        assert sum(p["peers"] for p in placed) == 1  # the banned visitor's peer is gone
