"""A serial background writer, so that database writes stay off the signaling hot path.

Writes run one at a time in submission order (a match's start is stored before its end).
The queue is bounded: if the database stalls for long enough to fill it, new writes are
dropped and counted rather than growing memory without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Write = Callable[[], Awaitable[None]]


class BackgroundWriter:
    def __init__(self, max_pending: int = 10_000) -> None:
        self._queue: asyncio.Queue[Write | None] = asyncio.Queue(maxsize=max_pending)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def submit(self, write: Write) -> None:
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.error("background write dropped: queue full")

    async def drain(self) -> None:
        """Wait until every write submitted so far has run."""
        await self._queue.join()

    async def close(self) -> None:
        """Run what is pending, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                if write is None:
                    return
                await write()
            except Exception:
                self.failed += 1
                logger.exception("background write failed")
            finally:
                self._queue.task_done()
