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

from collections.abc import Callable
from typing import Any, Protocol

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

from signaling.console.precision import Precision
from signaling.console.precision_metrics import QaCollector
from signaling.room.visitor import Match, Visitor
from signaling.service.build import BuildInfo
from signaling.service.collectors import (
    MODES,
    DoorCollector,
    LobbyCollector,
    LobbyState,
    RouterState,
    SfuCollector,
)
from signaling.service.moderation_metrics import ModerationCollector, ModerationState

END_REASONS = ("next", "left", "disconnected")
LOOKING_AFTER = ("join", "requeue")

TIME_TO_MATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MATCH_DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class LobbyEvents(Protocol):
    """The lobby's event emitter (pyee): ``on(event, handler)``."""

    def on(self, event: str, f: Callable[..., Any]) -> Any: ...


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
