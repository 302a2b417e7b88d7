"""The shared fire-and-forget helper holds each task until it is done."""

from __future__ import annotations

import asyncio
import gc

from duet.tasks import TaskSet


async def test_a_spawned_task_is_held_until_it_finishes_then_let_go() -> None:
    tasks = TaskSet()
    release = asyncio.Event()
    done: list[int] = []

    async def work() -> None:
        await release.wait()
        done.append(1)

    tasks.spawn(work())
    gc.collect()  # nothing else references the task: the set must
    assert len(tasks) == 1
    release.set()
    await tasks.wait()
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert done == [1]
    assert len(tasks) == 0


async def test_cancel_stops_what_is_left() -> None:
    tasks = TaskSet()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = tasks.spawn(forever())
    await started.wait()
    tasks.cancel()
    await tasks.wait()
    assert task.cancelled()
    await asyncio.sleep(0)
    assert list(tasks) == []
