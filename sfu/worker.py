"""Body of an SFU worker process (one per core under ``duet serve --sfu-workers N``).

The process runs one :class:`~sfu.router.Router` on its own event loop (uvloop when
installed) and answers the signaling process over a private socket (:mod:`sfu.rpc`). Every
``report_interval`` seconds it reports its load: peers, CPU seconds, resident memory and a
media snapshot for metrics. It exits when the signaling process closes the socket or dies,
closing every peer it owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any

from sfu.plane import PlaneSnapshot
from sfu.router import Router
from sfu.rpc import Channel
from sfu.settings import SfuSettings

logger = logging.getLogger(__name__)


def resident_bytes() -> int:
    """This process's resident set size (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def worker_main(
    sock: socket.socket,
    settings_json: str,
    secret: bytes | Sequence[bytes],
    index: int,
    log_level: str,
    prescreen: bool = False,
    clip_s: float = 0.0,
) -> None:
    """Entry point of the worker process (started with the ``spawn`` method)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the signaling process decides when we stop
    logging.basicConfig(
        level=log_level.upper(),
        format=f"%(asctime)s %(levelname)s sfu-worker-{index} %(name)s: %(message)s",
    )
    settings = SfuSettings.model_validate_json(settings_json)
    if settings.pipe_port:
        settings = settings.model_copy(update={"pipe_port": settings.pipe_port + index})
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    runner(_serve(sock, settings, secret, index, prescreen, clip_s))


async def _serve(
    sock: socket.socket,
    settings: SfuSettings,
    secret: bytes | Sequence[bytes],
    index: int,
    prescreen: bool,
    clip_s: float,
) -> None:
    router = Router(settings, secret=secret, prescreen=prescreen, clip_s=clip_s)
    await router.start()
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    worker = _WorkerHandler(router)
    channel = Channel(reader, writer, handler=worker.handle)
    endpoint = router.endpoint_address
    channel.notify("hello", index, os.getpid(), endpoint)
    reporter = asyncio.ensure_future(_report(channel, router, index, settings.stats_interval_s))
    try:
        await channel.serve()
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await router.close()
        await channel.close()


class _WorkerHandler:
    """Maps channel requests onto the router's media-plane methods."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def handle(self, method: str, args: tuple[Any, ...]) -> Any:
        router = self.router
        if method == "open":
            return await router.open(*args)
        if method == "answer":
            return await router.answer(*args)
        if method == "candidate":
            return await router.candidate(*args)
        if method == "connect":
            return await router.connect(*args)
        if method == "disconnect":
            return await router.disconnect(*args)
        if method == "drop":
            return await router.drop(*args)
        if method == "tap":
            return await router.tap(*args)
        if method == "screen":
            return await router.screen(*args)
        if method == "clip":
            return await router.clip(*args)
        if method == "release":
            return await router.release(*args)
        if method == "snapshot":
            return router.snapshot()
        raise ValueError(f"unknown method {method!r}")


async def _report(channel: Channel, router: Router, index: int, interval: float) -> None:
    while True:
        snapshot: PlaneSnapshot = router.snapshot()
        channel.notify(
            "load", index, len(router.peers), time.process_time(), resident_bytes(), snapshot
        )
        await asyncio.sleep(interval)
