"""Several SFU worker processes behind one :class:`~sfu.plane.MediaPlane`.

One event loop saturates near one core, so ``duet serve --sfu-workers N`` runs the media in
N worker processes (:mod:`sfu.worker`, mediasoup's Worker is the model) while the
signaling process keeps the WebSockets, the lobby and moderation. Each new video visitor is
placed next to the visitor it will probably be matched with (the first in line) when that
worker is not much busier than the least-loaded one, else on the least-loaded worker
(fewest peers, then least CPU); it stays there for the visit. A match whose two visitors
sit on different workers is forwarded through the workers' pipes (:mod:`sfu.pipe`) without
renegotiation; on the same worker, in-process.

A worker that dies takes its peers with it: the cluster reports those visitors through
:meth:`SfuCluster.on_lost` (the lobby ends their matches) and starts a replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from duet.tasks import TaskSet
from sfu.frames import BgrFrame
from sfu.plane import LostHandler, PlaneSnapshot, ProcessLoad
from sfu.rpc import Channel, ChannelClosed
from sfu.settings import SfuSettings
from sfu.stats import Totals
from sfu.worker import worker_main

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
PLACEMENT_SLACK = 2
"""How many more visitors than the least-loaded worker a worker may hold and still take a
newcomer next to its likely partner."""


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    channel: Channel
    serving: asyncio.Task[None]
    ready: asyncio.Future[str]
    """Resolves to the worker's pipe endpoint once it said hello."""
    endpoint: str = ""
    pid: int = 0
    visitors: set[str] = field(default_factory=set)
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    snapshot: PlaneSnapshot = field(default_factory=PlaneSnapshot)
    gone: bool = False


class SfuCluster:
    """N SFU worker processes; implements :class:`~sfu.plane.MediaPlane`."""

    def __init__(
        self,
        settings: SfuSettings,
        secret: bytes | Sequence[bytes],
        workers: int,
        log_level: str = "info",
        prescreen: bool = False,
        clip_s: float = 0.0,
    ) -> None:
        if workers < 1:
            raise ValueError("an SFU cluster needs at least one worker")
        self.settings = settings
        self.secret = secret if isinstance(secret, bytes) else tuple(secret)
        self.size = workers
        self.log_level = log_level
        self.prescreen = prescreen
        self.clip_s = clip_s
        self.workers: dict[int, _Worker] = {}
        self.restarts = 0
        self._where: dict[str, _Worker] = {}
        self._lost_handlers: list[LostHandler] = []
        self._retired = Totals()
        self._closing = False
        self._context = multiprocessing.get_context("spawn")
        self._tasks = TaskSet()

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until each one serves (its pipe is open)."""
        await asyncio.gather(*(self._spawn(index) for index in range(self.size)))

    async def close(self) -> None:
        self._closing = True
        self._tasks.cancel()
        for worker in list(self.workers.values()):
            await worker.channel.close()
        for worker in list(self.workers.values()):
            await asyncio.to_thread(worker.process.join, 5.0)
            if worker.process.is_alive():
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, 2.0)
            worker.serving.cancel()
        self.workers.clear()
        self._where.clear()

    async def _spawn(self, index: int) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        process = self._context.Process(
            target=worker_main,
            args=(
                child_sock,
                self.settings.model_dump_json(),
                self.secret,
                index,
                self.log_level,
                self.prescreen,
                self.clip_s,
            ),
            name=f"duet-sfu-{index}",
            daemon=True,
        )
        await asyncio.to_thread(process.start)
        child_sock.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent_sock)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[str] = loop.create_future()
        holder: list[_Worker] = []

        def on_event(name: str, args: tuple[Any, ...]) -> None:
            if holder:
                self._on_event(holder[0], name, args)

        channel = Channel(reader, writer, on_event=on_event)
        serving = asyncio.ensure_future(channel.serve())
        worker = _Worker(index, process, channel, serving, ready, pid=process.pid or 0)
        holder.append(worker)
        self.workers[index] = worker
        serving.add_done_callback(lambda _: self._on_gone(worker))
        try:
            worker.endpoint = await asyncio.wait_for(ready, START_TIMEOUT)
        except TimeoutError:
            process.kill()
            raise RuntimeError(
                f"SFU worker {index} did not start within {START_TIMEOUT} s"
            ) from None
        logger.info("SFU worker %d ready (pid %d, pipe %s)", index, worker.pid, worker.endpoint)
        return worker

    def _on_event(self, worker: _Worker, name: str, args: tuple[Any, ...]) -> None:
        if name == "hello":
            _index, pid, endpoint = args
            worker.pid = pid
            if not worker.ready.done():
                worker.ready.set_result(endpoint)
        elif name == "load":
            _index, _peers, cpu, rss, snapshot = args
            worker.cpu_seconds, worker.rss_bytes, worker.snapshot = cpu, rss, snapshot

    def _on_gone(self, worker: _Worker) -> None:
        """The worker's channel closed: it exited or was killed."""
        if worker.gone:
            return
        worker.gone = True
        if not worker.ready.done():
            worker.ready.set_exception(ChannelClosed("the worker exited while starting"))
        if self._closing:
            return
        self.workers.pop(worker.index, None)
        self._retired.add_totals(worker.snapshot.totals)
        lost = sorted(worker.visitors)
        for visitor in lost:
            self._where.pop(visitor, None)
        logger.error(
            "SFU worker %d (pid %d) exited; %d visitor(s) lost their media",
            worker.index,
            worker.pid,
            len(lost),
        )
        for handler in self._lost_handlers:
            try:
                handler(lost)
            except Exception:
                logger.exception("lost-media handler failed")
        self.restarts += 1
        self._tasks.spawn(self._respawn(worker))

    async def _respawn(self, dead: _Worker) -> None:
        await asyncio.to_thread(dead.process.join, 5.0)
        delay = 0.5
        while not self._closing:
            try:
                await self._spawn(dead.index)
                return
            except Exception:
                logger.exception(
                    "SFU worker %d failed to start; retrying in %.1f s", dead.index, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # --- MediaPlane -------------------------------------------------------------------

    def _place(self, visitor: str, near: str | None = None) -> _Worker:
        """The visitor's worker: where it already is, else next to ``near`` (its likely
        partner, so that their call needs no pipe) unless that worker holds more than
        ``PLACEMENT_SLACK`` visitors above the least loaded one, else the least loaded."""
        worker = self._where.get(visitor)
        if worker is not None and not worker.gone:
            return worker
        live = [w for w in self.workers.values() if not w.gone and w.endpoint]
        if not live:
            raise ChannelClosed("no SFU worker is running")
        worker = min(live, key=lambda w: (len(w.visitors), w.cpu_seconds, w.index))
        partner = self._where.get(near) if near is not None else None
        if (
            partner is not None
            and not partner.gone
            and partner.endpoint
            and len(partner.visitors) <= len(worker.visitors) + PLACEMENT_SLACK
        ):
            worker = partner
        worker.visitors.add(visitor)
        self._where[visitor] = worker
        return worker

    def _worker(self, visitor: str) -> _Worker:
        worker = self._where.get(visitor)
        if worker is None:
            raise KeyError(f"no peer connection for {visitor}")
        return worker

    async def open(self, visitor: str, near: str | None = None) -> str:
        result: str = await self._place(visitor, near).channel.call("open", visitor)
        return result

    async def answer(self, visitor: str, sdp: str) -> None:
        await self._worker(visitor).channel.call("answer", visitor, sdp)

    async def candidate(self, visitor: str, candidate: dict[str, Any] | None) -> None:
        await self._worker(visitor).channel.call("candidate", visitor, candidate)

    async def connect(self, visitor: str, source: str, endpoint: str | None = None) -> None:
        worker = self._where.get(visitor)
        if worker is None:
            return
        endpoint = endpoint or self.endpoint(source)
        if endpoint is None:
            return
        await worker.channel.call("connect", visitor, source, endpoint)

    async def disconnect(self, visitor: str) -> None:
        worker = self._where.get(visitor)
        if worker is not None:
            with contextlib.suppress(ChannelClosed):
                await worker.channel.call("disconnect", visitor)

    async def drop(self, visitor: str) -> None:
        worker = self._where.pop(visitor, None)
        if worker is None:
            return
        worker.visitors.discard(visitor)
        with contextlib.suppress(ChannelClosed):
            await worker.channel.call("drop", visitor)

    async def tap(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        worker = self._where.get(visitor)
        if worker is None:
            return None
        try:
            frame: BgrFrame | None = await worker.channel.call(
                "tap", visitor, timeout, max_side, timeout=timeout + 5.0
            )
        except ChannelClosed:
            return None
        return frame

    async def screen(
        self, visitor: str, timeout: float, max_side: int
    ) -> tuple[BgrFrame, int | None] | None:
        worker = self._where.get(visitor)
        if worker is None:
            return None
        try:
            screened: tuple[BgrFrame, int | None] | None = await worker.channel.call(
                "screen", visitor, timeout, max_side, timeout=timeout + 5.0
            )
        except ChannelClosed:
            return None
        return screened

    async def clip(self, visitor: str) -> bytes | None:
        worker = self._where.get(visitor)
        if worker is None:
            return None
        try:
            clip: bytes | None = await worker.channel.call("clip", visitor)
        except ChannelClosed:
            return None
        return clip

    async def release(self, visitor: str, source: str, keyframe: int | None = None) -> bool:
        worker = self._where.get(visitor)
        if worker is None:
            return False
        try:
            released: bool = await worker.channel.call("release", visitor, source, keyframe)
        except ChannelClosed:
            return False
        return released

    def endpoint(self, visitor: str) -> str | None:
        worker = self._where.get(visitor)
        return None if worker is None else worker.endpoint

    def has_peer(self, visitor: str) -> bool:
        return visitor in self._where

    def snapshot(self) -> PlaneSnapshot:
        total = PlaneSnapshot(totals=Totals())
        total.totals.add_totals(self._retired)
        for worker in sorted(self.workers.values(), key=lambda w: w.index):
            total.peers_by_state.update(worker.snapshot.peers_by_state)
            total.candidate_types.update(worker.snapshot.candidate_types)
            total.totals.add_totals(worker.snapshot.totals)
            total.pipe_frames += worker.snapshot.pipe_frames
            total.processes.append(
                ProcessLoad(
                    index=worker.index,
                    pid=worker.pid,
                    peers=len(worker.visitors),
                    cpu_seconds=worker.cpu_seconds,
                    rss_bytes=worker.rss_bytes,
                )
            )
        return total

    def on_lost(self, handler: LostHandler) -> None:
        self._lost_handlers.append(handler)

    def placement(self) -> Counter[int]:
        """How many visitors each worker holds (by worker index)."""
        return Counter({w.index: len(w.visitors) for w in self.workers.values()})
