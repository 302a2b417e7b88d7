"""`duet worker` processes consuming frame checks from a Redis stream: one check per worker,
verdict stored before the ack, a killed worker's checks reclaimed by another; and a node
that sends its checks there bans a flagged caller."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis

from moderation.errors import CheckTimedOut
from moderation.stream import FRAME_MARGIN_S, GROUP, StreamChecker
from tests.support.caller import Caller
from tests.support.datastores import Redis as RedisServer
from tests.support.datastores import run_redis
from tests.support.servers import REPO_ROOT, run_duet

RED_BGR = np.full((120, 160, 3), (40, 40, 210), dtype=np.uint8)
GREEN_BGR = np.full((120, 160, 3), (60, 200, 40), dtype=np.uint8)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with run_redis(tmp_path) as server:
        yield server


def _worker_env(redis: RedisServer, busy: Path, delay: float) -> dict[str, str]:
    return {
        **os.environ,
        "DUET_REDIS_URL": redis.url,
        "DUET_MODERATION__CLASSIFIER": "tests.support.classifiers:by_colour",
        "DUET_MODERATION__CHECK_TIMEOUT_S": "1.5",
        "DUETTEST_UNSAFE_RGB": "210,40,40",
        "DUETTEST_DELAY_S": str(delay),
        "DUETTEST_BUSY_DIR": str(busy),
    }


def _start_worker(
    redis: RedisServer, tmp: Path, name: str, delay: float
) -> subprocess.Popen[bytes]:
    busy = tmp / name
    busy.mkdir(exist_ok=True)
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "duet.cli", "worker"],
        env=_worker_env(redis, busy, delay),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_log(path: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not in {path}:\n{path.read_text(errors='replace')}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def _acknowledged(redis: Redis, stream: str, timeout: float = 5.0) -> None:
    """Every check gets acknowledged (just after its verdict is stored)."""
    deadline = time.monotonic() + timeout
    while (await redis.xpending(stream, GROUP))["pending"] != 0:
        assert time.monotonic() < deadline, "checks left unacknowledged"
        await asyncio.sleep(0.05)


async def test_checks_are_classified_by_duet_workers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    workers = [_start_worker(redis_server, tmp_path, f"w{i}", delay=0.0) for i in range(2)]
    redis = Redis.from_url(redis_server.url)
    try:
        for i in range(2):
            await asyncio.to_thread(_wait_log, tmp_path / f"w{i}.log", "consuming checks")
        checker = StreamChecker(redis, timeout=10)
        verdicts = await asyncio.gather(*(checker.classify(f) for f in [RED_BGR, GREEN_BGR] * 4))
        assert [v.unsafe for v in verdicts] == [True, False] * 4
        assert all(v.source == "test-colour" for v in verdicts)
        await _acknowledged(redis, checker.stream)
    finally:
        for worker in workers:
            _stop(worker)
        await redis.aclose()


class KeepingChecker(StreamChecker):
    """A node that never deletes its entries: what is left is the worker's doing."""

    async def _forget(self, entry: Any) -> None:
        return None


async def test_a_frame_leaves_redis_as_soon_as_its_verdict_is_stored(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    worker = _start_worker(redis_server, tmp_path, "w0", delay=0.0)
    redis = Redis.from_url(redis_server.url)
    try:
        await asyncio.to_thread(_wait_log, tmp_path / "w0.log", "consuming checks")
        checker = KeepingChecker(redis, timeout=10)
        verdicts = await asyncio.gather(*(checker.classify(f) for f in [RED_BGR, GREEN_BGR] * 2))
        assert [v.unsafe for v in verdicts] == [True, False] * 2
        assert await redis.xlen(checker.stream) == 0  # gone with the verdict, not later
    finally:
        _stop(worker)
        await redis.aclose()


async def test_no_frame_outlives_the_check_timeout_plus_a_margin(
    redis_server: RedisServer,
) -> None:
    """No worker at all: the node deletes its own entry when it gives up, and trims those
    a dead node left behind (older than the timeout plus the margin, by Redis's clock)."""
    redis = Redis.from_url(redis_server.url)
    try:
        checker = StreamChecker(redis, timeout=0.3)
        await redis.xadd(checker.stream, {"job": "orphan", "frame": b"x", "reply": "r"}, id="1-0")
        with pytest.raises(CheckTimedOut):
            await checker.classify(RED_BGR)
        assert await redis.xlen(checker.stream) == 0
        assert FRAME_MARGIN_S <= 10
    finally:
        await redis.aclose()


async def test_a_killed_workers_check_is_reclaimed_by_another(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    doomed = _start_worker(redis_server, tmp_path, "doomed", delay=30.0)
    redis = Redis.from_url(redis_server.url)
    try:
        await asyncio.to_thread(_wait_log, tmp_path / "doomed.log", "consuming checks")
        checker = StreamChecker(redis, timeout=60)
        check = asyncio.ensure_future(checker.classify(RED_BGR))
        deadline = time.monotonic() + 20
        while not list((tmp_path / "doomed").glob("*.busy")):
            assert time.monotonic() < deadline, "the doomed worker never took the check"
            await asyncio.sleep(0.05)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(5)
        pending = await redis.xpending(checker.stream, GROUP)
        assert pending["pending"] == 1  # taken, never acknowledged
        rescuer = _start_worker(redis_server, tmp_path, "rescuer", delay=0.0)
        try:
            verdict = await asyncio.wait_for(check, 40)
            assert verdict.unsafe is True
            await _acknowledged(redis, checker.stream)
        finally:
            _stop(rescuer)
    finally:
        _stop(doomed)
        await redis.aclose()


async def test_a_node_with_remote_workers_bans_a_flagged_caller(
    redis_server: RedisServer, tmp_path: Path, loopback_only: None, callers: list[object]
) -> None:
    worker = _start_worker(redis_server, tmp_path, "node-worker", delay=0.0)
    try:
        await asyncio.to_thread(_wait_log, tmp_path / "node-worker.log", "consuming checks")
        env = {
            "DUET_REDIS_URL": redis_server.url,
            "DUET_MODERATION__ENABLED": "true",
            "DUET_MODERATION__REMOTE_WORKERS": "true",
            "DUET_MODERATION__SCHEDULE_OFFSETS_S": "[0.3, 0.8]",
            "DUET_MODERATION__TAP_TIMEOUT_S": "1.0",
        }
        node_dir = tmp_path / "node"
        node_dir.mkdir()
        with run_duet(node_dir, env) as server:
            red = await Caller(server.ws_url, (210, 40, 40)).connect()
            green = await Caller(server.ws_url, (40, 200, 60)).connect()
            callers.extend([red, green])
            await red.join("video")
            await green.join("video")
            await red.wait_for("matched")
            banned = await red.wait_for("banned", timeout=15)
            assert banned["ban"].startswith("b_")
            assert (await green.wait_for("partner_left", timeout=5))["reason"] == "ended"
            assert green.count("banned") == 0
    finally:
        _stop(worker)
