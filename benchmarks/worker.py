"""A worker process of ``duet bench calls``: runs some of the callers on its own event loop.

Talks to the orchestrator through two ``multiprocessing`` queues:

- commands in: ``("go", t0)`` (callers start at ``t0 + their offset``),
  ``("window", start, end)``, ``("stop",)``;
- messages out: ``("ready", worker, seconds_encoding, clip_kbps, audio_kbps)``, progress
  (``"connected"``, ``"matched"``, ``"media"``, ``"failed"``: ``(kind, index, time,
  detail)``), then one ``("result", worker, records, stats)`` or ``("crashed", worker,
  traceback)``.

Both queues are bounded; progress messages are dropped rather than block a worker's event
loop when the orchestrator falls behind. Bounded in time too: whatever the orchestrator
does, the worker hangs up every caller and exits ``plan.max_seconds`` after ``go`` (or
after start, if ``go`` never comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing.queues
import queue
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from benchmarks.caller import AnnouncedWindow, BenchCaller, CallerRecord
from benchmarks.clip import VideoSpec, encode_audio_clip, encode_video_clip

Queue = multiprocessing.queues.Queue


@dataclass(frozen=True)
class WorkerPlan:
    worker: int
    ws_url: str
    callers: tuple[tuple[int, float], ...]
    """``(caller index, start offset in seconds after go)`` of this worker's callers."""
    total_callers: int
    video: VideoSpec
    loopback: bool
    next_every: float | None
    connect_timeout: float
    max_seconds: float
    """Hard bound on the worker's life after ``go``."""
    own_addresses: bool = False
    """Each caller connects from its own loopback address (:func:`caller_address`)."""
    tints: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Offenders among this worker's callers: caller index -> (U, V) tint of its clip."""


def caller_address(index: int) -> str:
    """Caller ``index``'s own loopback address: 127.1.x.y (Linux answers all of 127/8)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


class DecodeErrors(logging.Handler):
    """Counts aiortc's "failed to decode" warnings for video in this process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "failed to decode" in message and "(video)" in message:
            self.count += 1


def worker_main(plan: WorkerPlan, commands: Queue[Any], out: Queue[Any]) -> None:
    """Process entry point."""
    logging.basicConfig(level=logging.ERROR)
    decode_errors = DecodeErrors()
    receiver_log = logging.getLogger("aiortc.rtcrtpreceiver")
    receiver_log.addHandler(decode_errors)
    receiver_log.propagate = False  # the count is reported; the warnings would flood stderr
    try:
        asyncio.run(_run(plan, commands, out, decode_errors))
    except BaseException:
        out.put(("crashed", plan.worker, traceback.format_exc()))


async def _run(
    plan: WorkerPlan, commands: Queue[Any], out: Queue[Any], decode_errors: DecodeErrors
) -> None:
    if plan.loopback:
        from sfu.aiortc_hooks import set_host_addresses

        set_host_addresses(["127.0.0.1"])
    started = time.monotonic()
    cpu_started = time.process_time()
    audio = encode_audio_clip()
    clips = {
        index: encode_video_clip(plan.video, index, plan.tints.get(index))
        for index, _ in plan.callers
    }
    clip_kbps = sum(c.kbps for c in clips.values()) / max(1, len(clips))
    out.put(("ready", plan.worker, time.process_time() - cpu_started, clip_kbps, audio.kbps))

    def report(kind: str, index: int, at: float, detail: str) -> None:
        # Progress only (the records carry the truth): never block the event loop on it.
        with contextlib.suppress(queue.Full):
            out.put_nowait((kind, index, at, detail))

    window = AnnouncedWindow()
    stop = asyncio.Event()
    callers = [
        BenchCaller(
            index,
            plan.total_callers,
            plan.ws_url,
            clips[index],
            audio,
            window,
            report,
            loopback=plan.loopback,
            next_every=plan.next_every,
            connect_timeout=plan.connect_timeout,
            local_address=caller_address(index) if plan.own_addresses else None,
        )
        for index, _ in plan.callers
    ]
    loop = asyncio.get_running_loop()
    go: float | None = None
    cpu_window: list[float] = []
    deadline = started + plan.max_seconds
    runs: list[asyncio.Task[CallerRecord]] = []
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            command = await loop.run_in_executor(None, _get, commands, min(0.5, remaining))
        except queue.Empty:
            continue
        if command[0] == "go" and go is None:
            go = float(command[1])
            deadline = go + plan.max_seconds
            runs = [
                asyncio.ensure_future(caller.run(go + offset, stop))
                for caller, (_, offset) in zip(callers, plan.callers, strict=True)
            ]
        elif command[0] == "window":
            window.start, window.end = float(command[1]), float(command[2])
            cpu_window.append(time.process_time())
        elif command[0] == "stop":
            break
    cpu_window.append(time.process_time())
    stop.set()
    if runs:
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        for caller, outcome in zip(callers, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                caller.record.error = f"the caller crashed: {outcome!r}"
    records = [caller.record for caller in callers]
    stats = {
        "cpu_window_s": cpu_window[-1] - cpu_window[0] if len(cpu_window) >= 2 else None,
        "cpu_total_s": time.process_time() - cpu_started,
        "decode_errors": decode_errors.count,
    }
    out.put(("result", plan.worker, records, stats), timeout=30)


def _get(commands: Queue[Any], timeout: float) -> Any:
    return commands.get(timeout=timeout)
