"""A pool of classifier worker processes, hand-managed so that a death is survivable.

Named after mediasoup's Worker: each worker is a ``spawn``-ed process that loads the
classifier once (``moderation.classifier``) and then answers one check at a time over its
own pipe. The parent side lives on the event loop and never blocks on a worker:

* the worker's pipe and its process sentinel are watched with ``loop.add_reader``;
* a frame is sent from a thread (a ~1 MB pickle), the verdict comes back as a small message;
* a worker that dies (crash, OOM kill, SIGKILL) fails its in-flight check at once with
  :class:`WorkerDied` and is replaced; a check that outlives ``timeout`` kills its worker
  (it may be stuck) and fails with :class:`CheckTimedOut`;
* a worker whose classifier cannot even load is restarted with an exponential back-off.

Why not ``ProcessPoolExecutor``: one dead worker breaks the whole executor for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from duet.tasks import TaskSet
from moderation.classifiers import ClassifierConfig
from moderation.clock import SYSTEM_CLOCK, Clock
from moderation.errors import CheckFailed, CheckTimedOut, ClassifierError, NoWorker, WorkerDied
from moderation.frames import BgrFrame
from moderation.verdict import Verdict
from moderation.worker_process import worker_main

logger = logging.getLogger(__name__)


@dataclass
class PoolStats:
    """Counters of the pool (exported as metrics by the composition root)."""

    spawned: int = 0
    """Worker processes started, including replacements."""
    restarts: int = 0
    """Replacements of workers that died or were killed."""
    deaths: int = 0
    """Workers that exited without being asked to."""
    timeouts: int = 0
    """Checks that timed out (their worker was killed)."""
    errors: int = 0
    """Checks whose classifier raised."""
    load_failures: int = 0
    """Workers whose classifier factory failed."""
    pids: list[int] = field(default_factory=list)
    """PIDs of the workers alive now."""


class _Worker:
    def __init__(self, index: int, process: BaseProcess, conn: Connection) -> None:
        self.index = index
        self.process = process
        self.conn = conn
        self.pid = process.pid or 0
        self.ready = False
        self.doomed = False
        """Killed or exiting: never given a new check."""
        self.gone = False
        self.job: int | None = None
        self.future: asyncio.Future[Verdict] | None = None

    @property
    def idle(self) -> bool:
        return self.ready and not self.doomed and self.future is None


class WorkerPool:
    """``size`` worker processes running ``factory`` (``"package.module:factory"``)."""

    def __init__(
        self,
        factory: str,
        config: ClassifierConfig,
        size: int = 1,
        timeout: float = 2.0,
        max_pending: int = 16,
        max_backoff: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``clock``: waits and restart back-off (the real clock in production; a worker's
        reply is still bounded by ``asyncio.timeout`` on the event loop)."""
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.factory = factory
        self.config = config
        self.size = size
        self.timeout = timeout
        self.max_pending = max_pending
        self.max_backoff = max_backoff
        self.clock = clock
        self.stats = PoolStats()
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._jobs = itertools.count(1)
        self._waiting = 0
        self._changed: asyncio.Condition | None = None
        self._closing = False
        self._ever_ready = False
        self.load_error: str | None = None
        """Why the last worker could not load its classifier (``None``: none failed)."""
        self._failed_starts = 0
        self._tasks = TaskSet()

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the workers in the background (models load while the node serves)."""
        self._changed = asyncio.Condition()
        for index in range(self.size):
            self._spawn_soon(index, delay=0.0)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has loaded its classifier (for tests and benchmarks)."""
        deadline = self.clock.now() + timeout
        while self.ready_count < self.size:
            if self.clock.now() > deadline:
                return False
            await self.clock.sleep(0.05)
        return True

    async def first_outcome(self, timeout: float) -> str | None:
        """Wait until a worker has loaded the classifier (``None``) or one failed to
        (the error); ``"no worker became ready within N s"`` after ``timeout``."""
        deadline = self.clock.now() + timeout
        while not self._ever_ready:
            if self.load_error is not None:
                return self.load_error
            if self.clock.now() > deadline:
                return f"no worker became ready within {timeout:g} s"
            await self.clock.sleep(0.05)
        return None

    @property
    def ever_ready(self) -> bool:
        """Whether any worker ever loaded the classifier."""
        return self._ever_ready

    @property
    def ready_count(self) -> int:
        return sum(1 for w in self._workers if w.ready and not w.doomed)

    async def close(self) -> None:
        """Ask every worker to stop; kill those that do not within two seconds."""
        self._closing = True
        self._tasks.cancel()
        workers = list(self._workers)
        for worker in workers:
            worker.doomed = True
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in workers:
            await asyncio.to_thread(worker.process.join, 2.0)
            if worker.process.is_alive():
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, 2.0)
            self._forget(worker)

    # --- checks -----------------------------------------------------------------------

    async def classify(self, frame: BgrFrame) -> Verdict:
        """The verdict of one frame; raises :class:`CheckFailed` or :class:`NoWorker`."""
        worker = await self._acquire()
        loop = asyncio.get_running_loop()
        job = next(self._jobs)
        future: asyncio.Future[Verdict] = loop.create_future()
        worker.job, worker.future = job, future
        payload = (job, frame.shape, np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    await asyncio.to_thread(worker.conn.send, payload)
                except (OSError, ValueError) as exc:
                    raise WorkerDied(f"worker pid {worker.pid} is gone: {exc}") from None
                return await future
        except TimeoutError:
            self.stats.timeouts += 1
            logger.warning(
                "moderation check timed out after %.1f s; killing worker pid %d",
                self.timeout,
                worker.pid,
            )
            self._kill(worker)
            raise CheckTimedOut(f"no verdict within {self.timeout} s") from None
        finally:
            if worker.future is future:
                worker.job, worker.future = None, None
            await self._notify()

    async def _acquire(self) -> _Worker:
        if self._changed is None:
            raise RuntimeError("start() the pool first")
        async with self._changed:
            while True:
                for worker in self._workers:
                    if worker.idle:
                        worker.future = asyncio.get_running_loop().create_future()
                        return worker
                if self.ready_count == 0:
                    raise NoWorker("unavailable" if self._ever_ready else "starting")
                if self._waiting >= self.max_pending:
                    raise NoWorker("busy")
                self._waiting += 1
                try:
                    async with asyncio.timeout(self.timeout):
                        await self._changed.wait()
                except TimeoutError:
                    raise NoWorker("busy") from None
                finally:
                    self._waiting -= 1

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    # --- process management -----------------------------------------------------------

    def _spawn_soon(self, index: int, delay: float) -> None:
        self._tasks.spawn(self._spawn(index, delay))

    async def _spawn(self, index: int, delay: float) -> None:
        if delay:
            await self.clock.sleep(delay)
        if self._closing:
            return
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child, self.factory, self.config),
            name=f"duet-moderation-{index}",
            daemon=True,
        )
        await asyncio.to_thread(process.start)
        child.close()
        worker = _Worker(index, process, parent)
        self._workers.append(worker)
        self.stats.spawned += 1
        loop = asyncio.get_running_loop()
        loop.add_reader(parent.fileno(), self._on_readable, worker)
        # uvloop's add_reader switches the fd to non-blocking, and then a ~1 MB frame sent
        # from the sending thread stops part-way (EAGAIN) and corrupts the stream. Readiness
        # is all we need from the loop: put the fd back in blocking mode.
        os.set_blocking(parent.fileno(), True)
        loop.add_reader(process.sentinel, self._on_exit, worker)
        logger.info("moderation worker %d starting (pid %d)", index, worker.pid)

    def _on_readable(self, worker: _Worker) -> None:
        try:
            while not worker.gone and worker.conn.poll():
                self._on_message(worker, worker.conn.recv())
        except (EOFError, OSError):
            # The pipe closed: the process is exiting. Fail its check now; the sentinel
            # callback reaps it and starts the replacement.
            self._stop_reading(worker)
            self._fail(worker, WorkerDied(f"worker pid {worker.pid} closed its pipe"))
            self._kill(worker)

    def _on_message(self, worker: _Worker, message: Any) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._ever_ready = True
            self._failed_starts = 0
            self.stats.pids = [w.pid for w in self._workers if not w.gone]
            logger.info("moderation worker %d ready (pid %d)", worker.index, worker.pid)
            self._spawn_task(self._notify())
        elif kind == "fatal":
            self.stats.load_failures += 1
            self.load_error = str(message[1])
            logger.critical(
                "MODERATION IS DOWN: worker %d cannot load moderation.classifier = %r: %s "
                "-- video is NOT checked until it loads (retrying)",
                worker.index,
                self.factory,
                message[1],
            )
        elif kind in ("ok", "error"):
            _, job, body = message
            future = worker.future
            if future is None or future.done() or job != worker.job:
                return  # a late answer to a check that already gave up
            if kind == "ok":
                future.set_result(body)
            else:
                self.stats.errors += 1
                future.set_exception(ClassifierError(str(body)))

    def _on_exit(self, worker: _Worker) -> None:
        """The process sentinel fired: fail its check now, reap and replace it soon."""
        if worker.gone:
            return
        self._forget(worker)
        self._fail(worker, WorkerDied(f"worker pid {worker.pid} died"))
        if not self._closing:
            self._spawn_task(self._replace(worker))

    async def _replace(self, worker: _Worker) -> None:
        # The sentinel can fire a moment before the exit status is collectable.
        await asyncio.to_thread(worker.process.join, 5.0)
        exitcode = worker.process.exitcode
        if self._closing:
            return
        self.stats.deaths += 1
        self.stats.restarts += 1
        if worker.ready:
            delay = 0.0
        else:
            self._failed_starts += 1
            delay = min(self.max_backoff, 0.5 * 2 ** min(self._failed_starts, 10))
        logger.warning(
            "moderation worker %d (pid %d) exited with code %s; replacing it in %.1f s",
            worker.index,
            worker.pid,
            exitcode,
            delay,
        )
        self._spawn_soon(worker.index, delay)
        await self._notify()

    def _fail(self, worker: _Worker, error: CheckFailed) -> None:
        future = worker.future
        if future is not None and not future.done():
            future.set_exception(error)

    def _kill(self, worker: _Worker) -> None:
        worker.doomed = True
        with contextlib.suppress(OSError):
            if worker.process.is_alive():
                worker.process.kill()

    def _stop_reading(self, worker: _Worker) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())

    def _forget(self, worker: _Worker) -> None:
        if worker.gone:
            return
        worker.gone = True
        worker.doomed = True
        self._stop_reading(worker)
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(worker.process.sentinel)
        with contextlib.suppress(OSError):
            worker.conn.close()
        worker.process.join(timeout=0)
        if worker in self._workers:
            self._workers.remove(worker)
        self.stats.pids = [w.pid for w in self._workers if not w.gone]

    def _spawn_task(self, coro: Any) -> None:
        self._tasks.spawn(coro)
