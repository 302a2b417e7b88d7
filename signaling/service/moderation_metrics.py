"""The moderation collector of a node's metrics: checks, verdicts, the breaker, budgets and
classifier workers (their CPU and memory from ``/proc``), read per scrape from
``moderation.Moderation.snapshot()``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from signaling.service.collectors import gauge

BREAKER_STATES = ("closed", "open", "half_open")


class ModerationState(Protocol):
    """What :class:`ModerationCollector` reads: ``moderation.Moderation.snapshot()``."""

    def snapshot(self) -> dict[str, Any]: ...


class ModerationCollector(Collector):
    """Moderation counters, breaker state and worker pool, from ``snapshot()`` per scrape.

    The moderation package counts in plain objects (it knows nothing of Prometheus); this
    maps them one to one: ``checks_skipped["rate_limited"]`` ->
    ``duet_moderation_checks_skipped_total{reason="rate_limited"}``."""

    def __init__(self, moderation: ModerationState) -> None:
        self._moderation = moderation

    def describe(self) -> Iterable[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._moderation.snapshot()))

    @staticmethod
    def _families(snap: dict[str, Any]) -> Iterator[Metric]:
        prefix = "duet_moderation_"
        yield gauge(prefix + "enabled", "1 when video moderation is on.", snap.get("enabled"))
        for name, help_text in (
            ("checks_scheduled", "Checks that came due (scheduled offsets, confirmations)."),
            ("checks_run", "Checks that produced a verdict."),
            ("report_checks", "Immediate checks asked for by image reports."),
            ("holds", "Visitors held: a possible minor in explicit video (never banned)."),
            ("messages_checked", "Chat messages checked."),
            ("warnings", "warning events sent for flagged chat."),
            ("evidence_written", "Evidence records written."),
            ("evidence_purged", "Evidence records deleted (retention, overturned appeals)."),
        ):
            counter = CounterMetricFamily(prefix + name, help_text)
            if name in snap:
                counter.add_metric([], snap[name])
            yield counter
        for name, label, help_text in (
            ("checks_skipped", "reason", "Checks not run, by reason (rate_limited, ...)."),
            ("checks_failed", "reason", "Checks that failed, by reason (timeout, ...)."),
            ("verdicts", "outcome", "Verdicts, by outcome (safe, unsafe, minor, unsafe_minor)."),
            ("faces", "presence", "Verdicts by face presence (face, no_face)."),
            (
                "prescreens",
                "outcome",
                "Pre-screens of a new partner's video, by outcome (opened, held, "
                "fail_open_<reason>: opened unchecked).",
            ),
            ("face_gate", "presence", "Safe pre-screens by face presence (require_face)."),
            ("bans", "source", "Bans, by source (video, text)."),
            ("review_items", "priority", "Items sent to human review, by priority."),
            ("messages_flagged", "reason", "Chat messages flagged, by reason."),
        ):
            counter = CounterMetricFamily(prefix + name, help_text, labels=[label])
            for value, count in sorted(snap.get(name, {}).items()):
                counter.add_metric([str(value)], count)
            yield counter
        latency = HistogramMetricFamily(
            prefix + "check_latency_seconds", "From the tap request to the verdict."
        )
        figures = snap.get("latency_s")
        if figures:
            cumulative, buckets = 0, []
            for bound, count in zip(
                [*figures["buckets"], float("inf")], figures["counts"], strict=True
            ):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            latency.add_metric([], buckets, figures["sum"])
        yield latency
        breaker = GaugeMetricFamily(
            prefix + "breaker_state",
            "1 for the circuit breaker's current state (closed, open, half_open); when it is "
            "open, checks are skipped and chats flow unmoderated (fail open).",
            labels=["state"],
        )
        transitions = CounterMetricFamily(
            prefix + "breaker_transitions",
            "Times the breaker entered each state.",
            labels=["state"],
        )
        if "breaker" in snap:
            current = snap["breaker"]["state"]
            for state in sorted({*BREAKER_STATES, current}):
                breaker.add_metric([state], 1 if state == current else 0)
            for state, count in sorted(snap["breaker"]["transitions"].items()):
                transitions.add_metric([state], count)
        yield breaker
        yield transitions
        yield gauge(
            prefix + "daily_budget_used",
            "Model calls spent from today's budget.",
            snap.get("daily_budget_used"),
        )
        workers = snap.get("workers", {})
        yield gauge(prefix + "workers_ready", "Classifier workers ready.", workers.get("ready"))
        # The classifier workers are separate processes: process_cpu_seconds_total and
        # process_resident_memory_bytes do not include them.
        usage = [u for u in (process_usage(pid) for pid in workers.get("pids", [])) if u]
        cpu = CounterMetricFamily(
            prefix + "workers_cpu_seconds",
            "CPU time of the live classifier worker processes (Linux /proc; drops when a "
            "worker is replaced, which rate() reads as a counter reset).",
        )
        rss = GaugeMetricFamily(
            prefix + "workers_resident_memory_bytes",
            "Resident memory of the live classifier worker processes (Linux /proc).",
        )
        if usage:
            cpu.add_metric([], sum(u[0] for u in usage))
            rss.add_metric([], sum(u[1] for u in usage))
        yield cpu
        yield rss
        for name, help_text in (
            ("spawned", "Classifier worker processes started, replacements included."),
            ("restarts", "Replacements of workers that died or were killed."),
            ("deaths", "Workers that exited without being asked to."),
            ("timeouts", "Checks that timed out (their worker was killed)."),
            ("errors", "Checks whose classifier raised."),
            ("load_failures", "Workers whose classifier could not load."),
        ):
            counter = CounterMetricFamily(prefix + "worker_" + name, help_text)
            if name in workers:
                counter.add_metric([], workers[name])
            yield counter


def process_usage(pid: int) -> tuple[float, int] | None:
    """``(CPU seconds, resident bytes)`` of process ``pid`` from Linux ``/proc``, or ``None``
    (gone, or not Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # After the ")" closing the command name: field 3 (state) is fields[0]; utime and stime
    # are fields 14 and 15 of proc(5).
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return cpu, resident_pages * os.sysconf("SC_PAGE_SIZE")
