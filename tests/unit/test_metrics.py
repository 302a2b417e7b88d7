"""The node's metrics: a registry per app, state read from the lobby, counters fed by events."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from pyee import EventEmitter

from sfu.plane import PlaneSnapshot
from signaling.room.matching import Matchmaker
from signaling.room.visitor import Match, Visitor
from signaling.service.build import BuildInfo
from signaling.service.metrics import Metrics

BUILD = BuildInfo(version="9.9.9", commit="abc123")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeLobby:
    visitors: dict[str, Visitor]
    matchmaker: Matchmaker

    def waiting(self, mode: str) -> int:
        return self.matchmaker.waiting(mode)  # type: ignore[arg-type]


@dataclass
class FakeRouter:
    """A media plane that reports a fixed snapshot."""

    state: PlaneSnapshot = field(default_factory=PlaneSnapshot)

    def snapshot(self) -> PlaneSnapshot:
        return self.state


def _visitor(vid: str, mode: str | None = None, state: str = "idle") -> Visitor:
    visitor = Visitor(id=vid, ip="127.0.0.1", outbox=asyncio.Queue(maxsize=8))
    visitor.mode = mode  # type: ignore[assignment]
    visitor.state = state  # type: ignore[assignment]
    return visitor


def _node() -> tuple[Metrics, FakeLobby, EventEmitter, FakeRouter, _Clock]:
    clock = _Clock()
    lobby = FakeLobby(visitors={}, matchmaker=Matchmaker(clock=clock))
    events = EventEmitter()
    router = FakeRouter()
    metrics = Metrics.build(BUILD, lobby, events, clock=clock, router=router)  # type: ignore[arg-type]
    return metrics, lobby, events, router, clock


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_process_metrics_are_on_each_apps_own_registry() -> None:
    first, *_ = _node()
    second, *_ = _node()  # no "duplicated timeseries": nothing is global
    for metrics in (first, second):
        assert (_value(metrics, "process_cpu_seconds_total") or 0) > 0
        assert (_value(metrics, "process_resident_memory_bytes") or 0) > 0
        assert _value(metrics, "python_info", **_python_info(metrics)) == 1
        assert _value(metrics, "duet_build_info", version="9.9.9", commit="abc123") == 1
    first.matches_started.labels("video").inc()
    assert _value(second, "duet_matches_started_total", mode="video") == 0


def _python_info(metrics: Metrics) -> dict[str, str]:
    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.name == "python_info":
            return dict(family.samples[0].labels)
    raise AssertionError("python_info is missing")


def test_state_gauges_are_read_from_the_lobby_at_scrape_time() -> None:
    metrics, lobby, _events, _router, _clock = _node()
    idle = _visitor("v1")
    waiting = _visitor("v2", "video", "waiting")
    a, b = _visitor("v3", "text", "matched"), _visitor("v4", "text", "matched")
    match = Match("m1", "text", a, b, datetime.now(UTC), started_clock=90.0)
    a.match = b.match = match
    for visitor in (idle, waiting, a, b):
        lobby.visitors[visitor.id] = visitor
    assert lobby.matchmaker.enqueue("v2", "video") is None

    assert _value(metrics, "duet_visitors_connected", mode="none") == 1
    assert _value(metrics, "duet_visitors_connected", mode="video") == 1
    assert _value(metrics, "duet_visitors_connected", mode="text") == 2
    assert _value(metrics, "duet_visitors_waiting", queue="video") == 1
    assert _value(metrics, "duet_visitors_waiting", queue="text") == 0
    assert _value(metrics, "duet_matches_active", mode="text") == 1
    assert _value(metrics, "duet_matches_active", mode="video") == 0

    # Nothing to decrement: when visitors go, the gauges follow.
    lobby.visitors.clear()
    lobby.matchmaker.forget("v2")
    assert _value(metrics, "duet_visitors_connected", mode="text") == 0
    assert _value(metrics, "duet_visitors_waiting", queue="video") == 0
    assert _value(metrics, "duet_matches_active", mode="text") == 0


def test_lobby_events_feed_counters_and_histograms() -> None:
    metrics, _lobby, events, _router, clock = _node()
    a, b = _visitor("v1", "video", "matched"), _visitor("v2", "video", "matched")
    a.looking_since, a.looking_after = 99.0, "join"
    b.looking_since, b.looking_after = 99.75, "requeue"
    match = Match("m1", "video", a, b, datetime.now(UTC), started_clock=100.0)
    assert _value(metrics, "duet_matches_started_total", mode="video") == 0
    events.emit("match_started", match)
    assert _value(metrics, "duet_matches_started_total", mode="video") == 1
    join = {"mode": "video", "since": "join"}
    assert _value(metrics, "duet_time_to_match_seconds_count", **join) == 1
    assert _value(metrics, "duet_time_to_match_seconds_sum", **join) == 1.0
    assert _value(metrics, "duet_time_to_match_seconds_bucket", le="1.0", **join) == 1
    assert _value(metrics, "duet_time_to_match_seconds_bucket", le="0.5", **join) == 0
    requeue = {"mode": "video", "since": "requeue"}
    assert _value(metrics, "duet_time_to_match_seconds_sum", **requeue) == 0.25

    clock.now = 130.0
    events.emit("match_ended", match, "next")
    assert _value(metrics, "duet_matches_ended_total", mode="video", reason="next") == 1
    assert _value(metrics, "duet_matches_ended_total", mode="video", reason="left") == 0
    assert _value(metrics, "duet_match_duration_seconds_sum", mode="video") == 30.0

    events.emit("refused", a, "bad_json")
    events.emit("refused", a, "bad_json")
    events.emit("refused", b, "not_in_match")
    assert _value(metrics, "duet_ws_errors_total", code="bad_json") == 2
    assert _value(metrics, "duet_ws_errors_total", code="not_in_match") == 1


def test_sfu_counters_come_from_the_router_stats() -> None:
    metrics, _lobby, _events, router, _clock = _node()
    router.state.peers_by_state.update(connected=1, connecting=1)
    totals = router.state.totals
    totals.packets_sent.update(audio=500, video=900)
    totals.bytes_sent.update(audio=40_000, video=1_000_000)
    totals.bytes_in, totals.bytes_out = 2_000_000, 1_100_000
    totals.keyframe_requests, totals.drops = 7, 3
    totals.keyframe_requests_absorbed = 2
    router.state.candidate_types.update(host=2)

    assert _value(metrics, "duet_sfu_peers", state="connected") == 1
    assert _value(metrics, "duet_sfu_peers", state="connecting") == 1
    assert _value(metrics, "duet_sfu_peers", state="failed") == 0
    assert _value(metrics, "duet_sfu_candidates", type="host") == 2
    assert _value(metrics, "duet_sfu_candidates", type="relay") == 0
    assert _value(metrics, "duet_sfu_forwarded_packets_total", kind="video") == 900
    assert _value(metrics, "duet_sfu_forwarded_bytes_total", kind="audio") == 40_000
    assert _value(metrics, "duet_sfu_transport_bytes_total", direction="in") == 2_000_000
    assert _value(metrics, "duet_sfu_keyframe_requests_total") == 7
    assert _value(metrics, "duet_sfu_dropped_frames_total") == 3
    assert _value(metrics, "duet_sfu_keyframe_requests_absorbed_total") == 2
    text = metrics.render().decode()
    assert "# TYPE duet_sfu_forwarded_packets_total counter" in text


class FakeModeration:
    def __init__(self) -> None:
        self.snap: dict[str, Any] = {
            "enabled": True,
            "checks_scheduled": 9,
            "checks_run": 7,
            "checks_skipped": {"rate_limited": 2},
            "checks_failed": {"timeout": 1},
            "verdicts": {"safe": 6, "unsafe": 1},
            "faces": {"face": 5, "no_face": 2},
            "latency_s": {
                "buckets": [0.01, 0.1, 1.0],
                "counts": [1, 4, 2, 0],
                "sum": 1.9,
                "count": 7,
                "p50": 0.05,
                "p95": 0.6,
            },
            "bans": {"video": 1},
            "review_items": {"high": 1},
            "messages_checked": 3,
            "messages_flagged": {},
            "warnings": 0,
            "evidence_written": 1,
            "evidence_purged": 0,
            "breaker": {"state": "open", "transitions": {"open": 1}},
            "daily_budget_used": 7,
            "workers": {"ready": 1, "spawned": 2, "restarts": 1, "deaths": 1, "timeouts": 1,
                        "errors": 0, "load_failures": 0, "pids": [os.getpid()]},
        }  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return self.snap


def test_moderation_counters_breaker_and_worker_cost() -> None:
    clock = _Clock()
    lobby = FakeLobby(visitors={}, matchmaker=Matchmaker(clock=clock))
    moderation = FakeModeration()
    metrics = Metrics.build(BUILD, lobby, EventEmitter(), clock=clock, moderation=moderation)  # type: ignore[arg-type]
    assert _value(metrics, "duet_moderation_enabled") == 1
    assert _value(metrics, "duet_moderation_checks_run_total") == 7
    assert _value(metrics, "duet_moderation_checks_skipped_total", reason="rate_limited") == 2
    assert _value(metrics, "duet_moderation_verdicts_total", outcome="unsafe") == 1
    assert _value(metrics, "duet_moderation_bans_total", source="video") == 1
    assert _value(metrics, "duet_moderation_check_latency_seconds_bucket", le="0.1") == 5
    assert _value(metrics, "duet_moderation_check_latency_seconds_bucket", le="+Inf") == 7
    assert _value(metrics, "duet_moderation_check_latency_seconds_sum") == 1.9
    assert _value(metrics, "duet_moderation_breaker_state", state="open") == 1
    assert _value(metrics, "duet_moderation_breaker_state", state="closed") == 0
    assert _value(metrics, "duet_moderation_worker_restarts_total") == 1
    # The workers' own CPU and memory (here: this process stands in for one).
    assert (_value(metrics, "duet_moderation_workers_cpu_seconds_total") or 0) > 0
    assert (_value(metrics, "duet_moderation_workers_resident_memory_bytes") or 0) > 1e6
    # Fail open is visible: the breaker closes again, the gauge follows.
    moderation.snap["breaker"]["state"] = "closed"
    assert _value(metrics, "duet_moderation_breaker_state", state="open") == 0
    moderation.snap["workers"]["pids"] = [2**22 + 12345]  # gone: no sample, no error
    assert _value(metrics, "duet_moderation_workers_cpu_seconds_total") is None


def test_relay_share_counts_connected_peers_only() -> None:
    metrics, _lobby, _events, router, _clock = _node()
    router.state.candidate_types.update(host=3, relay=1, unknown=4)
    assert _value(metrics, "duet_sfu_relay_share") == 0.25
    router.state.candidate_types.clear()
    assert _value(metrics, "duet_sfu_relay_share") == 0.0
