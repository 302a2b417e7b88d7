"""Fire-and-forget tasks that stay referenced until they finish.

The event loop keeps only a weak reference to a task, so a task nobody holds can be
garbage-collected mid-flight. Every object that starts background work it does not await
at once keeps a :class:`TaskSet`: :meth:`TaskSet.spawn` starts the task and holds it until
it is done, :meth:`TaskSet.cancel` stops what is left (at close) and :meth:`TaskSet.wait`
waits for it.

Assumes a running event loop (as :func:`asyncio.ensure_future` on a coroutine does). It
imports nothing of Duet: every package (``sfu``, ``moderation``, ``signaling``,
``benchmarks``) may use it, which the import contracts in ``pyproject.toml`` allow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class TaskSet:
    """Background tasks, each held until it is done."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start ``coro`` as a task and hold it until it finishes."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    def cancel(self) -> None:
        """Cancel every task still running."""
        for task in list(self._tasks):
            task.cancel()

    async def wait(self) -> None:
        """Wait until every task now held has finished (errors are the tasks' own)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
