"""``duet bench calls``: 2N synthetic callers against a running node, spread over worker
processes, with what a user feels (time to match, first frame, fps, the right partner) and
what the server spends (CPU, RSS from its ``/metrics``).

Phases, all bounded: check the node -> workers encode their clips -> *ramp* (callers connect
at ``--ramp`` per second, join, get matched, receive their partner's picture) -> *steady
window* of ``--duration`` seconds (server CPU and RSS are read from ``/metrics`` at both
ends; ``--next-every`` switches partners in it) -> hang up, collect records, analyse, report.
"""

from __future__ import annotations

import contextlib
import ipaddress
import multiprocessing
import os
import queue
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.caller import CallerRecord
from benchmarks.clip import VideoSpec
from benchmarks.mark import MAX_VALUE
from benchmarks.offenders import TINTS, OffenderKind, offender_indices
from benchmarks.scrape import MachineCpu, NodeClient, Sample, ServerUnreachable
from benchmarks.worker import WorkerPlan, worker_main

READY_TIMEOUT_S = 60.0
"""Workers must have encoded their clips within this (plus a second per caller)."""
RESULT_TIMEOUT_S = 30.0
SCRAPE_EVERY_S = 1.0
COMMANDS_MAX = 16
"""A worker gets four commands in a run (go, window, stop, and stop again at clean-up)."""


class BenchError(Exception):
    """The benchmark cannot run or finish; the message says why, for a person."""


@dataclass(frozen=True)
class CallsOptions:
    url: str
    calls: int
    duration: float
    ramp: float = 10.0
    """New callers per second."""
    next_every: float | None = None
    json_path: Path | None = None
    plot_path: Path | None = None
    video: VideoSpec = field(default_factory=VideoSpec)
    workers: int | None = None
    """Worker processes; ``None``: one per CPU core, at most one per caller."""
    loopback: bool | None = None
    """Gather and accept ICE candidates on loopback only; ``None``: when the URL's host is."""
    setup_timeout: float = 30.0
    """Seconds after the last caller's start for every caller to get its partner's picture."""
    connect_timeout: float = 10.0
    offenders: int = 0
    """Callers whose clip the node's bench classifier flags (see :mod:`benchmarks.offenders`)."""
    offender_kind: OffenderKind = "explicit"
    """``explicit`` (they are banned) or ``minor`` (explicit + possible minor: held)."""

    def __post_init__(self) -> None:
        if self.calls < 1:
            raise BenchError("--calls must be at least 1")
        if 2 * self.calls > MAX_VALUE + 1:
            raise BenchError(f"--calls must be at most {(MAX_VALUE + 1) // 2} (caller marks)")
        if self.duration <= 0:
            raise BenchError("--duration must be positive")
        if self.ramp <= 0:
            raise BenchError("--ramp must be positive")
        if self.next_every is not None and self.next_every <= 0:
            raise BenchError("--next-every must be positive")
        if self.workers is not None and self.workers < 1:
            raise BenchError("--workers must be at least 1")
        if not 0 <= self.offenders <= self.calls:
            raise BenchError("--offenders must be between 0 and --calls")
        if self.offender_kind not in TINTS:
            raise BenchError("--offender-kind must be 'explicit' or 'minor'")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BenchError(f"--url must look like http://HOST:PORT, not {self.url!r}")

    @property
    def callers(self) -> int:
        return 2 * self.calls

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.url.rstrip("/"))
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/ws"

    @property
    def use_loopback(self) -> bool:
        if self.loopback is not None:
            return self.loopback
        return is_loopback_host(urlsplit(self.url).hostname or "")

    @property
    def worker_count(self) -> int:
        if self.workers is not None:
            return min(self.workers, self.callers)
        return max(1, min(os.cpu_count() or 1, self.callers))

    @property
    def ramp_seconds(self) -> float:
        return (self.callers - 1) / self.ramp

    def as_args(self) -> dict[str, Any]:
        """The command's arguments, for the JSON report."""
        return {
            "url": self.url,
            "calls": self.calls,
            "duration": self.duration,
            "ramp": self.ramp,
            "next_every": self.next_every,
            "json": None if self.json_path is None else str(self.json_path),
            "plot": None if self.plot_path is None else str(self.plot_path),
            "video": self.video.label,
            "video_kbps": self.video.kbps,
            "workers": self.worker_count,
            "loopback": self.use_loopback,
            "setup_timeout": self.setup_timeout,
            "offenders": self.offenders,
            "offender_kind": self.offender_kind,
        }

    @property
    def offender_indices(self) -> list[int]:
        return offender_indices(self.callers, self.offenders)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plan_workers(options: CallsOptions) -> list[WorkerPlan]:
    """Callers round-robin over workers (the two partners of a call are usually in different
    processes), caller ``i`` starting ``i / ramp`` seconds after go."""
    count = options.worker_count
    assigned: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    for index in range(options.callers):
        assigned[index % count].append((index, index / options.ramp))
    bound = options.ramp_seconds + options.setup_timeout + options.duration + 60.0
    tint = TINTS[options.offender_kind]
    offenders = set(options.offender_indices)
    return [
        WorkerPlan(
            worker=worker,
            ws_url=options.ws_url,
            callers=tuple(callers),
            total_callers=options.callers,
            video=options.video,
            loopback=options.use_loopback,
            next_every=options.next_every,
            connect_timeout=options.connect_timeout,
            max_seconds=bound,
            tints={index: tint for index, _ in callers if index in offenders},
            # An offender's ban covers its IP address: with one address for all callers
            # it would keep every later caller out.
            own_addresses=bool(offenders) and options.use_loopback,
        )
        for worker, callers in enumerate(assigned)
    ]


@dataclass
class RunData:
    """What a run collected, for the analysis and the report."""

    options: CallsOptions
    health: dict[str, object]
    idle: Sample | None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    window_start: float = 0.0
    window_end: float = 0.0
    go: float = 0.0
    finished: float = 0.0
    at_window_start: Sample | None = None
    at_window_end: Sample | None = None
    samples: list[Sample] = field(default_factory=list)
    """Every scrape of the run, for the timeline."""
    machine_start: MachineCpu | None = None
    machine_end: MachineCpu | None = None
    records: list[CallerRecord] = field(default_factory=list)
    worker_stats: list[dict[str, Any]] = field(default_factory=list)
    main_cpu_window_s: float = 0.0
    encode_cpu_s: float = 0.0
    clip_kbps: float = 0.0
    audio_kbps: float = 0.0
    failures: dict[int, str] = field(default_factory=dict)
    """Callers that could not connect or were cut off, with why."""
    setup_complete: bool = False


class _Progress:
    """Counts per phase, shown with rich while the run goes."""

    def __init__(self, console: Console, callers: int) -> None:
        self.display = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks = {
            kind: self.display.add_task(label, total=callers)
            for kind, label in (
                ("connected", "callers connected"),
                ("matched", "callers matched"),
                ("media", "partner picture"),
            )
        }
        self.counts = dict.fromkeys(self.tasks, 0)
        self.failed = 0

    def bump(self, kind: str) -> None:
        if kind in self.tasks:
            self.counts[kind] += 1
            self.display.advance(self.tasks[kind])
        elif kind == "failed":
            self.failed += 1


class CallsRun:
    """One run of the benchmark: owns its worker processes and stops them all."""

    def __init__(self, options: CallsOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.node = NodeClient(options.url)
        self.context = multiprocessing.get_context("spawn")
        # Bounded: a few progress messages per caller, plus one ready and one result per worker.
        self.out: Any = self.context.Queue(maxsize=8 * options.callers + 64)
        self.commands: list[Any] = []
        self.processes: list[Any] = []
        self.results: dict[int, tuple[list[CallerRecord], dict[str, Any]]] = {}
        self.plans: list[WorkerPlan] = []
        self._last_scrape = 0.0

    def run(self) -> RunData:
        options = self.options
        try:
            health = self.node.health()
        except ServerUnreachable as exc:
            raise BenchError(str(exc)) from None
        data = RunData(options=options, health=health, idle=self.node.metrics())
        if data.idle is None:
            self.console.print(
                "[yellow]warning:[/] the node has no /metrics: server CPU and RSS are not measured"
            )
        try:
            self._start_workers(data)
            progress = _Progress(self.console, options.callers)
            with progress.display:
                self._ramp(data, progress)
                self._steady(data, progress)
                self._collect(data)
        finally:
            self._stop_workers()
            self.node.close()
        return data

    # --- phases ------------------------------------------------------------------------

    def _start_workers(self, data: RunData) -> None:
        self.plans = plan_workers(self.options)
        for plan in self.plans:
            commands = self.context.Queue(maxsize=COMMANDS_MAX)
            process = self.context.Process(
                target=worker_main,
                args=(plan, commands, self.out),
                name=f"duet-bench-worker-{plan.worker}",
                daemon=True,
            )
            self.commands.append(commands)
            self.processes.append(process)
            process.start()
        ready = 0
        most = max(len(p.callers) for p in self.plans)
        deadline = time.monotonic() + READY_TIMEOUT_S + most
        with self.console.status(
            f"encoding {self.options.callers} clips ({self.options.video.label}) "
            f"in {len(self.plans)} worker(s)"
        ):
            while ready < len(self.plans):
                message = self._next_message(deadline)
                if message[0] == "ready":
                    ready += 1
                    data.encode_cpu_s += float(message[2])
                    data.clip_kbps += float(message[3]) * len(self.plans[message[1]].callers)
                    data.audio_kbps = float(message[4])
        data.clip_kbps /= self.options.callers

    def _ramp(self, data: RunData, progress: _Progress) -> None:
        options = self.options
        data.go = time.monotonic() + 0.2
        self._broadcast(("go", data.go))
        deadline = data.go + options.ramp_seconds + options.setup_timeout
        while time.monotonic() < deadline:
            self._pump(data, progress, until=time.monotonic() + 0.1)
            settled = progress.counts["media"] + progress.failed
            if settled >= options.callers:
                break
        if progress.failed >= options.callers:
            raise BenchError(_all_failed(data))
        data.setup_complete = progress.counts["media"] >= options.callers

    def _steady(self, data: RunData, progress: _Progress) -> None:
        options = self.options
        data.machine_start = MachineCpu.read()
        data.at_window_start = self.node.metrics()
        main_cpu = time.process_time()
        data.window_start = time.monotonic()
        data.window_end = data.window_start + options.duration
        if data.at_window_start is not None:
            data.samples.append(data.at_window_start)
        self._broadcast(("window", data.window_start, data.window_end))
        steady = progress.display.add_task("steady window (s)", total=options.duration)
        while time.monotonic() < data.window_end:
            self._pump(data, progress, until=min(data.window_end, time.monotonic() + 0.2))
            elapsed = min(options.duration, time.monotonic() - data.window_start)
            progress.display.update(steady, completed=round(elapsed, 1))
        data.at_window_end = self.node.metrics()
        data.machine_end = MachineCpu.read()
        data.window_end = time.monotonic()
        data.main_cpu_window_s = time.process_time() - main_cpu
        if data.at_window_end is not None:
            data.samples.append(data.at_window_end)
        progress.display.update(steady, completed=options.duration)

    def _collect(self, data: RunData) -> None:
        self._broadcast(("stop",))
        deadline = time.monotonic() + RESULT_TIMEOUT_S
        with self.console.status("hanging up"):
            while len(self.results) < len(self.plans):
                try:
                    message = self._next_message(deadline)
                except BenchError as exc:
                    missing = [p.worker for p in self.plans if p.worker not in self.results]
                    raise BenchError(f"{exc} (no results from worker(s) {missing})") from None
                if message[0] == "failed":
                    data.failures.setdefault(message[1], message[3])
        data.finished = time.monotonic()
        for plan in self.plans:
            records, stats = self.results[plan.worker]
            data.records.extend(records)
            data.worker_stats.append(stats)
        data.records.sort(key=lambda r: r.index)

    # --- messages ----------------------------------------------------------------------

    def _pump(self, data: RunData, progress: _Progress, until: float) -> None:
        """Handle progress messages until ``until``; scrape ``/metrics`` now and then."""
        while True:
            now = time.monotonic()
            if now - self._last_scrape >= SCRAPE_EVERY_S:
                self._last_scrape = now
                sample = self.node.metrics()
                if sample is not None:
                    data.samples.append(sample)
            if now >= until:
                return
            try:
                message = self.out.get(timeout=max(0.0, until - now))
            except queue.Empty:
                self._check_workers()
                return
            self._handle(message)
            if message[0] == "failed":
                data.failures.setdefault(message[1], message[3])
            progress.bump(message[0])

    def _next_message(self, deadline: float) -> tuple[Any, ...]:
        """The next message from a worker (results are stored as they come)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError("the load generator's workers did not answer in time")
            try:
                message: tuple[Any, ...] = self.out.get(timeout=min(0.5, remaining))
            except queue.Empty:
                self._check_workers()
                continue
            self._handle(message)
            return message

    def _handle(self, message: tuple[Any, ...]) -> None:
        if message[0] == "result":
            self.results[message[1]] = (message[2], message[3])
        elif message[0] == "crashed":
            raise BenchError(f"worker {message[1]} of the load generator crashed:\n{message[2]}")

    def _check_workers(self) -> None:
        for plan, process in zip(self.plans, self.processes, strict=True):
            if not process.is_alive() and plan.worker not in self.results:
                raise BenchError(
                    f"worker {plan.worker} of the load generator died "
                    f"(exit code {process.exitcode})"
                )

    def _broadcast(self, command: tuple[Any, ...]) -> None:
        for commands in self.commands:
            with contextlib.suppress(queue.Full):  # a worker that stopped reading is killed
                commands.put(command, timeout=1.0)

    def _stop_workers(self) -> None:
        """Every worker process ends here: asked, then terminated, then killed."""
        self._broadcast(("stop",))
        deadline = time.monotonic() + 15.0
        for process in self.processes:
            process.join(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=5.0)
        for channel in [*self.commands, self.out]:
            channel.close()
            channel.cancel_join_thread()


def _all_failed(data: RunData) -> str:
    reasons = sorted(set(data.failures.values()))
    shown = "; ".join(reasons[:3]) if reasons else "no reason reported"
    return f"every caller failed to connect or was cut off: {shown}"


def run_calls(
    options: CallsOptions, console: Console | None = None, out: Console | None = None
) -> int:
    """Run the benchmark, print its summary, write ``--json``/``--plot``; the exit status."""
    from benchmarks.report import build_report, exit_status, print_summary, write_json

    console = console or Console(stderr=True)
    out = out or Console()
    try:
        data = CallsRun(options, console).run()
    except BenchError as exc:
        console.print(f"[bold red]duet bench calls:[/] {exc}", highlight=False)
        return 1
    report = build_report(data)
    print_summary(out, report)
    if options.json_path is not None:
        write_json(options.json_path, report)
        console.print(f"wrote {options.json_path}")
    if options.plot_path is not None:
        from benchmarks.plot import plot_timeline

        plot_timeline(data, options.plot_path)
        console.print(f"wrote {options.plot_path}")
    status, message = exit_status(report)
    if message:
        console.print(message, highlight=False)
    return status
