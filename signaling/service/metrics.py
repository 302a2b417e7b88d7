"""Prometheus metrics of one Duet node (``GET /metrics``; every metric is in docs/metrics.md).

Each node builds one :class:`Metrics` (in the composition root) with a registry of its own:
no metric object exists at module level, so two apps in one process (tests) never share or
collide. Two kinds of metrics:

- *state* (visitors connected, waiting, matches active, SFU peers, moderation counters and
  breaker) is read at scrape time from the lobby, the router and the moderation service by
  custom collectors, so it cannot drift from the truth;
- *events* (matches started/ended, time to match, refused messages) are counters and
  histograms fed by the lobby's events.

Assumes one lobby and one router per process (the single-process design): the gauges are
this process's view, and a multi-process deployment sums them across processes.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sfu.plane import PlaneSnapshot
from signaling.console.precision import Precision
from signaling.console.precision_metrics import QaCollector
from signaling.protocol import Mode
from signaling.room.visitor import Match, Visitor
from signaling.service.build import BuildInfo

MODES: tuple[Mode, ...] = get_args(Mode)
END_REASONS = ("next", "left", "disconnected")
LOOKING_AFTER = ("join", "requeue")
NO_MODE = "none"
"""``mode`` label of visitors who are connected but have not joined (or have left)."""

PEER_STATES = ("new", "connecting", "connected", "failed", "closed")
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay", "unknown")
BREAKER_STATES = ("closed", "open", "half_open")

TIME_TO_MATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MATCH_DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "DoorCollector",
    "LobbyCollector",
    "Metrics",
    "ModerationCollector",
    "SfuCollector",
]


class LobbyState(Protocol):
    """What the collectors read from a :class:`~signaling.room.lobby.Lobby` (tests pass a fake)."""

    @property
    def visitors(self) -> Mapping[str, Visitor]: ...

    def waiting(self, mode: Mode) -> int:
        """Visitors waiting in a queue (every node's, when several share Redis)."""
        ...


class LobbyEvents(Protocol):
    """The lobby's event emitter (pyee): ``on(event, handler)``."""

    def on(self, event: str, f: Callable[..., Any]) -> Any: ...


class RouterState(Protocol):
    """What :class:`SfuCollector` reads from the media plane (:class:`sfu.plane.MediaPlane`)."""

    def snapshot(self) -> PlaneSnapshot: ...


class ModerationState(Protocol):
    """What :class:`ModerationCollector` reads: ``moderation.Moderation.snapshot()``."""

    def snapshot(self) -> dict[str, Any]: ...


class LobbyCollector(Collector):
    """Visitors by mode, queue lengths and active matches, read from the lobby per scrape."""

    def __init__(self, lobby: LobbyState) -> None:
        self._lobby = lobby

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(fill=True))

    def _families(self, fill: bool = False) -> Iterator[Metric]:
        connected = GaugeMetricFamily(
            "duet_visitors_connected",
            "Visitors with an open WebSocket, by the mode they joined (none: not joined).",
            labels=["mode"],
        )
        waiting = GaugeMetricFamily(
            "duet_visitors_waiting", "Visitors waiting for a partner, by queue.", labels=["queue"]
        )
        active = GaugeMetricFamily(
            "duet_matches_active", "Matches (calls) in progress, by mode.", labels=["mode"]
        )
        if fill:
            visitors = list(self._lobby.visitors.values())
            by_mode: Tally[str] = Tally(v.mode or NO_MODE for v in visitors)
            matches: dict[int, Match] = {id(v.match): v.match for v in visitors if v.match}
            by_match_mode: Tally[str] = Tally(m.mode for m in matches.values())
            for mode in (*MODES, NO_MODE):
                connected.add_metric([mode], by_mode.get(mode, 0))
            for mode in MODES:
                waiting.add_metric([mode], self._lobby.waiting(mode))
                active.add_metric([mode], by_match_mode.get(mode, 0))
        yield connected
        yield waiting
        yield active


class SfuCollector(Collector):
    """The SFU's peers and media counters, read per scrape from the router and its
    :class:`~sfu.stats.StatsSampler`. The sampler refreshes live peers' counters every
    ``sfu.stats_interval_s``, so forwarded packets and bytes lag by up to that long."""

    def __init__(self, router: RouterState) -> None:
        self._router = router

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(fill=True))

    def _families(self, fill: bool = False) -> Iterator[Metric]:
        peers = GaugeMetricFamily(
            "duet_sfu_peers",
            "SFU peer connections (one per video visitor), by connection state.",
            labels=["state"],
        )
        relay_share = GaugeMetricFamily(
            "duet_sfu_relay_share",
            "Share of connected SFU peers whose selected ICE pair goes through TURN (0-1): "
            "the number that sets the TURN bill and connect speed.",
        )
        candidates = GaugeMetricFamily(
            "duet_sfu_candidates",
            "Live SFU peers by the visitor's side of the selected ICE pair "
            "(host, srflx, prflx, relay; unknown until connected).",
            labels=["type"],
        )
        packets = CounterMetricFamily(
            "duet_sfu_forwarded_packets",
            "RTP packets the SFU sent to visitors (their partners' media), by kind.",
            labels=["kind"],
        )
        payload = CounterMetricFamily(
            "duet_sfu_forwarded_bytes",
            "RTP payload bytes the SFU sent to visitors, by kind.",
            labels=["kind"],
        )
        transport = CounterMetricFamily(
            "duet_sfu_transport_bytes",
            "Bytes on the SFU's ICE transports (SRTP, RTCP, DTLS, STUN), by direction.",
            labels=["direction"],
        )
        keyframes = CounterMetricFamily(
            "duet_sfu_keyframe_requests",
            "Keyframe requests (PLI) the SFU sent to visitors: relayed from partners, after "
            "drops and switches, and for the moderation tap.",
        )
        drops = CounterMetricFamily(
            "duet_sfu_dropped_frames",
            "Frames not forwarded to a visitor (queue overflow, waiting for a keyframe).",
        )
        pipe_frames = CounterMetricFamily(
            "duet_sfu_pipe_frames",
            "Frames sent through pipes between SFU processes or nodes (matches that span "
            "them; restarts from 0 when a worker is replaced).",
        )
        worker_peers = GaugeMetricFamily(
            "duet_sfu_worker_peers",
            "Visitors placed on each SFU worker process (none when the SFU runs in-process).",
            labels=["worker"],
        )
        worker_cpu = CounterMetricFamily(
            "duet_sfu_worker_cpu_seconds",
            "CPU time of each SFU worker process (restarts from 0 when a worker is replaced).",
            labels=["worker"],
        )
        worker_rss = GaugeMetricFamily(
            "duet_sfu_worker_resident_memory_bytes",
            "Resident memory of each SFU worker process.",
            labels=["worker"],
        )
        if fill:
            snapshot = self._router.snapshot()
            states = Tally(snapshot.peers_by_state)
            for state in PEER_STATES:
                states.setdefault(state, 0)
            for state, count in sorted(states.items()):
                peers.add_metric([state], count)
            kinds = Tally(snapshot.candidate_types)
            for kind in CANDIDATE_TYPES:
                kinds.setdefault(kind, 0)
            for kind, count in sorted(kinds.items()):
                candidates.add_metric([kind], count)
            known = sum(n for kind, n in kinds.items() if kind != "unknown")
            relay_share.add_metric([], kinds.get("relay", 0) / known if known else 0.0)
            totals = snapshot.totals
            for kind in sorted(totals.packets_sent):
                packets.add_metric([kind], totals.packets_sent[kind])
                payload.add_metric([kind], totals.bytes_sent[kind])
            transport.add_metric(["in"], totals.bytes_in)
            transport.add_metric(["out"], totals.bytes_out)
            keyframes.add_metric([], totals.keyframe_requests)
            drops.add_metric([], totals.drops)
            pipe_frames.add_metric([], snapshot.pipe_frames)
            for process in snapshot.processes:
                label = [str(process.index)]
                worker_peers.add_metric(label, process.peers)
                worker_cpu.add_metric(label, process.cpu_seconds)
                worker_rss.add_metric(label, process.rss_bytes)
        yield from (peers, candidates, relay_share, packets, payload, transport, keyframes, drops)
        yield from (pipe_frames, worker_peers, worker_cpu, worker_rss)


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
        yield _gauge(prefix + "enabled", "1 when video moderation is on.", snap.get("enabled"))
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
        yield _gauge(
            prefix + "daily_budget_used",
            "Model calls spent from today's budget.",
            snap.get("daily_budget_used"),
        )
        workers = snap.get("workers", {})
        yield _gauge(prefix + "workers_ready", "Classifier workers ready.", workers.get("ready"))
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


class DoorCollector(Collector):
    """Sessions, admissions, rate limits, reports, blocks and retention, read per scrape
    from the plain counters of ``signaling.door``, ``signaling.room.reports``,
    ``signaling.room.blocks`` and ``signaling.service.retention``."""

    def __init__(
        self,
        door: Any,
        limits: Any,
        pace: Any,
        reports: Any,
        retention: Any,
        blocks: Any,
    ) -> None:
        self._door, self._limits, self._pace = door, limits, pace
        self._reports, self._retention, self._blocks = reports, retention, blocks

    def describe(self) -> Iterable[Metric]:
        return list(self._families(fill=False))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(fill=True))

    def _families(self, fill: bool) -> Iterator[Metric]:
        sessions = CounterMetricFamily(
            "duet_door_sessions",
            "POST /api/session by outcome (created, underage, refused, rate_limited, "
            "challenge_invalid, challenge_expired, challenge_reused, challenge_too_easy, "
            "bad_request).",
            labels=["outcome"],
        )
        sockets = CounterMetricFamily(
            "duet_door_websockets",
            "/ws connections by admission outcome (admitted, origin_not_allowed, "
            "rate_limited, session_required, session_invalid).",
            labels=["outcome"],
        )
        limited = CounterMetricFamily(
            "duet_rate_limited",
            "Events refused by a rate limit, by limit (http_per_ip, ws_connects_per_ip, "
            "sessions_per_ip, joins, nexts, chat, typing, reports).",
            labels=["limit"],
        )
        flood = CounterMetricFamily(
            "duet_flood_disconnects", "Visitors disconnected for repeated chat violations."
        )
        suspects = GaugeMetricFamily(
            "duet_door_suspects", "IPs and devices currently given the harder challenge."
        )
        marked = CounterMetricFamily(
            "duet_door_suspect_marks", "Times an IP or device was marked as a likely bot."
        )
        reports = CounterMetricFamily(
            "duet_reports",
            "Reports by reason and outcome (image reasons: ban, review, clean, unchecked; "
            "verbal: weighed, ban).",
            labels=["reason", "outcome"],
        )
        blocks = CounterMetricFamily("duet_blocks", "Partners blocked by visitors.")
        purged = CounterMetricFamily(
            "duet_retention_purged",
            "Records deleted by the retention job, by kind (matches, sessions, chat_attachments).",
            labels=["kind"],
        )
        if fill:
            for key, count in sorted(self._door.outcomes.items()):
                if key.startswith("ws:"):
                    sockets.add_metric([key[3:]], count)
                else:
                    sessions.add_metric([key], count)
            for name, count in sorted(self._limits.refused.items()):
                limited.add_metric([name], count)
            flood.add_metric([], self._pace.disconnects)
            suspects.add_metric([], len(self._door.suspects))
            marked.add_metric([], self._door.suspects.marked)
            for key, count in sorted(self._reports.outcomes.items()):
                reason, _, outcome = key.partition(":")
                reports.add_metric([reason, outcome], count)
            blocks.add_metric([], self._blocks.count)
            for kind, count in sorted(self._retention.purged.items()):
                purged.add_metric([kind], count)
        yield from (sessions, sockets, limited, flood, suspects, marked, reports, blocks, purged)


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


def _gauge(name: str, help_text: str, value: float | None) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, help_text)
    if value is not None:
        gauge.add_metric([], float(value))
    return gauge


class Metrics:
    """The metrics of one node and the registry they live in."""

    def __init__(self, build: BuildInfo) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The default process/platform/GC collectors, on this registry only.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)  # registers nothing outside CPython
        build_info = Info(
            "duet_build", "Version and source commit of this Duet node.", registry=self.registry
        )
        build_info.info({"version": build.version, "commit": build.commit or "unknown"})
        self.matches_started = Counter(
            "duet_matches_started",
            "Matches started, by mode.",
            ["mode"],
            registry=self.registry,
        )
        self.matches_ended = Counter(
            "duet_matches_ended",
            "Matches ended, by mode and reason (next, left, disconnected).",
            ["mode", "reason"],
            registry=self.registry,
        )
        self.time_to_match = Histogram(
            "duet_time_to_match_seconds",
            "From a visitor starting to look for a partner (join, or requeue after its match "
            "ended) to being matched; one observation per visitor per match.",
            ["mode", "since"],
            buckets=TIME_TO_MATCH_BUCKETS,
            registry=self.registry,
        )
        self.match_duration = Histogram(
            "duet_match_duration_seconds",
            "How long matches lasted, by mode.",
            ["mode"],
            buckets=MATCH_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.ws_errors = Counter(
            "duet_ws_errors",
            "error events sent on /ws (refused messages), by error code.",
            ["code"],
            registry=self.registry,
        )
        # Known label values start at 0, so that rate() and dashboards see them at once.
        for mode in MODES:
            self.matches_started.labels(mode)
            self.match_duration.labels(mode)
            for reason in END_REASONS:
                self.matches_ended.labels(mode, reason)
            for since in LOOKING_AFTER:
                self.time_to_match.labels(mode, since)
        self._clock: Callable[[], float] | None = None
        self._precision: Precision | None = None

    @classmethod
    def build(
        cls,
        build: BuildInfo,
        lobby: LobbyState,
        events: LobbyEvents,
        clock: Callable[[], float],
        router: RouterState | None = None,
        moderation: ModerationState | None = None,
    ) -> Metrics:
        """Metrics for a node: collectors over ``lobby`` (and ``router``), and counters fed by
        the lobby's ``events``. ``clock`` must be the lobby's clock (match times use it)."""
        metrics = cls(build)
        metrics.registry.register(LobbyCollector(lobby))
        if router is not None:
            metrics.registry.register(SfuCollector(router))
        if moderation is not None:
            metrics.registry.register(ModerationCollector(moderation))
        metrics._clock = clock
        events.on("match_started", metrics.on_match_started)
        events.on("match_ended", metrics.on_match_ended)
        events.on("refused", metrics.on_refused)
        return metrics

    def watch_door(
        self, door: Any, limits: Any, pace: Any, reports: Any, retention: Any, blocks: Any
    ) -> None:
        """Export the door's and the room's counters (:class:`DoorCollector`)."""
        self.registry.register(DoorCollector(door, limits, pace, reports, retention, blocks))

    def watch_qa(self, precision: Precision) -> None:
        """Export the measured precision of automatic actions (:class:`QaCollector`);
        :meth:`refresh` reads it from the database before each scrape."""
        self._precision = precision
        self.registry.register(QaCollector(precision))

    async def refresh(self) -> None:
        """Read what collectors cannot read at scrape time (the precision report)."""
        if self._precision is not None:
            await self._precision.refresh()

    # --- lobby events ------------------------------------------------------------------

    def on_match_started(self, match: Match) -> None:
        self.matches_started.labels(match.mode).inc()
        for visitor in match.local():
            if visitor.looking_since is None:
                continue
            waited = max(0.0, match.started_clock - visitor.looking_since)
            self.time_to_match.labels(match.mode, visitor.looking_after).observe(waited)

    def on_match_ended(self, match: Match, reason: str) -> None:
        self.matches_ended.labels(match.mode, reason).inc()
        if self._clock is not None:
            self.match_duration.labels(match.mode).observe(
                max(0.0, self._clock() - match.started_clock)
            )

    def on_refused(self, visitor: Visitor, code: str) -> None:
        self.ws_errors.labels(code).inc()

    # --- exposition --------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (content type
        :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)
