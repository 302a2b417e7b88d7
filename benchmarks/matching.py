"""``duet bench matching``: the real :class:`~signaling.room.matching.Matchmaker`, in-process.

A population of visitors joins, then random operations follow, each issuing the same
matchmaker calls the lobby makes for it:

- ``join``: ``enqueue``; when it queues, ``retry_in`` (the lobby schedules a retry);
- ``next`` (a matched visitor): ``parted``, then ``enqueue`` of the presser and of its partner
  (presser first), each followed by ``retry_in`` when it queues;
- ``leave``: a matched visitor's partner is ``parted`` and re-enqueued, the leaver is
  ``forget``-ed; a waiting visitor is ``forget``-ed;
- ``retry``: a queued visitor's retry comes due: ``try_pair`` (and ``retry_in`` again).

With ``interests`` (a pool size) each visitor holds 0-3 random interest tags from the pool,
and with ``languages`` one of that many languages (or none), so the matchmaker's soft
preferences (hold out for a shared interest and language for ``preference_wait`` seconds)
are exercised too.

The clock is simulated: it advances ``1 / ops_per_s`` per operation, so the rematch cooldown
sees a realistic operation rate however fast the machine runs. Latency is measured per
operation with ``perf_counter_ns`` around the matchmaker calls only (not the harness).
Assumes one process and one matchmaker, as a single Duet node has.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.stats import Summary
from signaling.room.matching import Matchmaker
from signaling.service.build import build_info

NEXT_SHARE = 0.8
"""Of operations on a matched visitor, the share that are Next (the rest: leave)."""
WAITING_LEAVE_SHARE = 0.3
"""Of operations on a waiting visitor, the share that are leave (the rest: nothing)."""


@dataclass(frozen=True)
class MatchingOptions:
    visitors: int = 10_000
    operations: int = 50_000
    ops_per_s: float = 1000.0
    cooldown: float = 10.0
    interests: int = 0
    """Size of the interest pool (0: nobody states interests)."""
    languages: int = 0
    """Number of languages (0: nobody states a language)."""
    preference_wait: float = 5.0
    seed: int = 1
    json_path: Path | None = None

    def __post_init__(self) -> None:
        if self.visitors < 2:
            raise ValueError("--visitors must be at least 2")
        if self.operations < 0:
            raise ValueError("--operations must not be negative")
        if self.ops_per_s <= 0:
            raise ValueError("--ops-per-s must be positive")
        if self.cooldown < 0:
            raise ValueError("--cooldown must not be negative")
        if self.interests < 0 or self.languages < 0 or self.preference_wait < 0:
            raise ValueError("--interests, --languages and --preference-wait must not be negative")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class MatchingResult:
    pairings: int
    matchmaker_seconds: float
    wall_seconds: float
    latencies_us: dict[str, list[float]]
    simulated_seconds: float
    max_waiting: int

    @property
    def pairings_per_s(self) -> float:
        return self.pairings / self.matchmaker_seconds if self.matchmaker_seconds else 0.0


class MatchingBench:
    """The simulated population and its bookkeeping (who is matched with whom)."""

    def __init__(self, options: MatchingOptions) -> None:
        self.options = options
        self.clock = _Clock()
        self.matchmaker = Matchmaker(
            clock=self.clock,
            rematch_cooldown=options.cooldown,
            preference_wait=options.preference_wait,
        )
        self.random = random.Random(options.seed)
        self.ids = [f"v{i}" for i in range(options.visitors)]
        pool = [f"tag{i}" for i in range(options.interests)]
        self.interests = {
            v: frozenset(self.random.sample(pool, self.random.randint(0, min(3, len(pool)))))
            for v in self.ids
        }
        self.languages: dict[str, str | None] = {
            v: (
                None
                if not options.languages or self.random.random() < 0.3
                else f"l{self.random.randrange(options.languages)}"
            )
            for v in self.ids
        }
        self.partner: dict[str, str] = {}
        self.waiting: set[str] = set()
        self.retries: list[tuple[float, str]] = []
        self.pairings = 0
        self.busy_ns = 0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.max_waiting = 0

    def _timed(self, operation: str, started: int) -> None:
        elapsed = time.perf_counter_ns() - started
        self.busy_ns += elapsed
        self.latencies[operation].append(elapsed / 1000)

    def _enqueue(self, visitor: str) -> None:
        partner = self.matchmaker.enqueue(
            visitor, "video", self.interests[visitor], self.languages[visitor]
        )
        if partner is None:
            self.waiting.add(visitor)
            delay = self.matchmaker.retry_in(visitor)
            if delay is not None:
                heapq.heappush(self.retries, (self.clock.now + delay, visitor))
            return
        self._paired(visitor, partner)

    def _paired(self, a: str, b: str) -> None:
        self.waiting.discard(a)
        self.waiting.discard(b)
        self.partner[a], self.partner[b] = b, a
        self.pairings += 1

    def _part(self, a: str) -> str:
        b = self.partner.pop(a)
        del self.partner[b]
        self.matchmaker.parted(a, b)
        return b

    def join(self, visitor: str) -> None:
        started = time.perf_counter_ns()
        self._enqueue(visitor)
        self._timed("join", started)

    def next(self, visitor: str) -> None:
        started = time.perf_counter_ns()
        partner = self._part(visitor)
        self._enqueue(visitor)  # the presser gets first pick, as in the lobby
        self._enqueue(partner)
        self._timed("next", started)

    def leave(self, visitor: str) -> None:
        started = time.perf_counter_ns()
        if visitor in self.partner:
            partner = self._part(visitor)
            self.matchmaker.forget(visitor)
            self._enqueue(partner)
        else:
            self.matchmaker.forget(visitor)
            self.waiting.discard(visitor)
        self._timed("leave", started)

    def retry_due(self) -> None:
        while self.retries and self.retries[0][0] <= self.clock.now:
            _, visitor = heapq.heappop(self.retries)
            if visitor not in self.waiting:
                continue
            started = time.perf_counter_ns()
            partner = self.matchmaker.try_pair(visitor)
            if partner is None:
                delay = self.matchmaker.retry_in(visitor)
                if delay is not None:
                    heapq.heappush(self.retries, (self.clock.now + delay, visitor))
            else:
                self._paired(visitor, partner)
            self._timed("retry", started)

    def step(self) -> None:
        """One random operation, then the clock moves on."""
        visitor = self.random.choice(self.ids)
        if visitor in self.partner:
            if self.random.random() < NEXT_SHARE:
                self.next(visitor)
            else:
                self.leave(visitor)
        elif visitor in self.waiting:
            if self.random.random() < WAITING_LEAVE_SHARE:
                self.leave(visitor)
        else:
            self.join(visitor)
        self.max_waiting = max(self.max_waiting, len(self.waiting))
        self.clock.now += 1 / self.options.ops_per_s
        self.retry_due()

    def run(self) -> MatchingResult:
        wall = time.perf_counter()
        for visitor in self.ids:
            self.join(visitor)
            self.clock.now += 1 / self.options.ops_per_s
        for _ in range(self.options.operations):
            self.step()
        return MatchingResult(
            pairings=self.pairings,
            matchmaker_seconds=self.busy_ns / 1e9,
            wall_seconds=time.perf_counter() - wall,
            latencies_us=dict(self.latencies),
            simulated_seconds=self.clock.now,
            max_waiting=self.max_waiting,
        )


def build_report(options: MatchingOptions, result: MatchingResult) -> dict[str, Any]:
    build = build_info()
    operations = {}
    for name in ("join", "next", "leave", "retry"):
        summary = Summary.of(result.latencies_us.get(name, []))
        operations[name] = {
            "count": summary.count,
            "p50_us": None if summary.p50 is None else round(summary.p50, 2),
            "p95_us": None if summary.p95 is None else round(summary.p95, 2),
            "max_us": None if summary.max is None else round(summary.max, 2),
        }
    return {
        "benchmark": "matching",
        "duet": {"version": build.version, "commit": build.commit},
        "args": {
            "visitors": options.visitors,
            "operations": options.operations,
            "ops_per_s": options.ops_per_s,
            "cooldown": options.cooldown,
            "interests": options.interests,
            "languages": options.languages,
            "preference_wait": options.preference_wait,
            "seed": options.seed,
        },
        "pairings": result.pairings,
        "pairings_per_s": round(result.pairings_per_s),
        "matchmaker_seconds": round(result.matchmaker_seconds, 4),
        "wall_seconds": round(result.wall_seconds, 3),
        "simulated_seconds": round(result.simulated_seconds, 1),
        "max_waiting": result.max_waiting,
        "operations": operations,
    }


def print_report(console: Console, report: dict[str, Any]) -> None:
    args = report["args"]
    table = Table(
        title=f"duet bench matching: {args['visitors']} visitors, {args['operations']} operations"
    )
    table.add_column("operation", style="bold")
    for column in ("count", "p50 µs", "p95 µs", "max µs"):
        table.add_column(column, justify="right")
    for name, figures in report["operations"].items():
        table.add_row(
            name,
            str(figures["count"]),
            *(
                "-" if figures[k] is None else f"{figures[k]:.1f}"
                for k in ("p50_us", "p95_us", "max_us")
            ),
        )
    console.print(table)
    console.print(
        f"{report['pairings']} pairings, {report['pairings_per_s']} pairings per second of "
        f"matchmaking time ({report['matchmaker_seconds']} s of {report['wall_seconds']} s wall); "
        f"at most {report['max_waiting']} waiting",
        highlight=False,
    )


def run_matching(options: MatchingOptions, console: Console | None = None) -> int:
    console = console or Console()
    result = MatchingBench(options).run()
    report = build_report(options, result)
    print_report(console, report)
    if options.json_path is not None:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(report, indent=2) + "\n")
    return 0
