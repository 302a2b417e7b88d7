"""Real worker processes: a SIGKILLed worker fails its check fast and is replaced; a stuck
one is killed on timeout; a classifier that raises or cannot load is reported."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from moderation.classifiers import ClassifierConfig
from moderation.errors import CheckTimedOut, ClassifierError, NoWorker, WorkerDied
from moderation.workers import WorkerPool

CONFIG = ClassifierConfig(unsafe_thresholds={}, minor_age=23, face_min_score=0.3)
RED_BGR = np.full((48, 64, 3), (40, 40, 210), dtype=np.uint8)
FACTORY = "tests.support.classifiers:by_colour"


@pytest.fixture
def colour_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("DUETTEST_UNSAFE_RGB", "210,40,40")
    monkeypatch.setenv("DUETTEST_BUSY_DIR", str(tmp_path))
    return tmp_path


async def test_sigkilled_worker_fails_its_check_fast_and_is_replaced(
    colour_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUETTEST_DELAY_S", "3")
    pool = WorkerPool(FACTORY, CONFIG, size=1, timeout=10)
    pool.start()
    try:
        assert await pool.wait_ready(30)
        (pid,) = pool.stats.pids
        check = asyncio.ensure_future(pool.classify(RED_BGR))
        for _ in range(1000):
            if (colour_env / f"{pid}.busy").exists():
                break
            await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        with pytest.raises(WorkerDied):
            await check
        assert time.monotonic() - killed < 2.5  # not the 10 s timeout, not the 3 s check
        with pytest.raises(NoWorker) as no_worker:
            await pool.classify(RED_BGR)
        assert no_worker.value.code == "unavailable"
        monkeypatch.setenv("DUETTEST_DELAY_S", "0")  # (the replacement reads it at spawn)
        assert await pool.wait_ready(30)
        assert pool.stats.pids != [pid] and pool.stats.restarts == 1
        verdict = await pool.classify(RED_BGR)
        assert verdict.unsafe and verdict.source == "test-colour"
    finally:
        await pool.close()


async def test_stuck_check_times_out_and_its_worker_is_replaced(
    colour_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUETTEST_DELAY_S", "5")
    pool = WorkerPool(FACTORY, CONFIG, size=1, timeout=0.5)
    pool.start()
    try:
        assert await pool.wait_ready(30)
        (pid,) = pool.stats.pids
        started = time.monotonic()
        with pytest.raises(CheckTimedOut):
            await pool.classify(RED_BGR)
        assert time.monotonic() - started < 4  # the 0.5 s timeout, not the 5 s check
        assert await pool.wait_ready(30)
        assert pool.stats.pids != [pid] and pool.stats.timeouts == 1
    finally:
        await pool.close()


async def test_classifier_errors_and_load_failures_are_reported(
    colour_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = WorkerPool(FACTORY, CONFIG, size=1, timeout=5)
    pool.start()
    try:
        assert await pool.wait_ready(30)
        with pytest.raises(ClassifierError):
            await pool.classify(np.zeros((4, 4), dtype=np.uint8))  # not BGR
        assert (await pool.classify(RED_BGR)).unsafe  # the worker survived
    finally:
        await pool.close()
    broken = WorkerPool("tests.support.classifiers:nothing_here", CONFIG, size=1)
    broken.start()
    try:
        with pytest.raises(NoWorker) as no_worker:
            await broken.classify(RED_BGR)
        assert no_worker.value.code == "starting"
        deadline = time.monotonic() + 30
        while broken.stats.load_failures == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await broken.close()


def test_full_size_frames_cross_the_pipe_under_uvloop(colour_env: Path) -> None:
    """uvicorn runs on uvloop, whose add_reader makes the watched pipe non-blocking: a
    640x480 frame (921,600 bytes) must still reach the worker whole."""
    import uvloop

    async def run() -> list[bool]:
        pool = WorkerPool(FACTORY, CONFIG, size=1, timeout=10.0)
        pool.start()
        try:
            assert await pool.wait_ready(30)
            frame = np.full((480, 640, 3), (40, 40, 210), dtype=np.uint8)
            verdicts = [await pool.classify(frame) for _ in range(3)]
            return [v.unsafe for v in verdicts]
        finally:
            await pool.close()

    assert uvloop.run(run()) == [True, True, True]
