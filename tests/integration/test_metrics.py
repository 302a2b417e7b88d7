"""``/metrics`` of a real node: the named metrics are there and move when calls happen; the
node logs JSON lines with the visitor and match ids when asked to."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.caller import Caller
from tests.support.servers import DuetServer, run_duet

NAMED = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "duet_build_info",
    "duet_visitors_connected",
    "duet_visitors_waiting",
    "duet_matches_active",
    "duet_matches_started_total",
    "duet_matches_ended_total",
    "duet_time_to_match_seconds",
    "duet_match_duration_seconds",
    "duet_ws_errors_total",
    "duet_sfu_peers",
    "duet_sfu_candidates",
    "duet_sfu_forwarded_packets_total",
    "duet_sfu_forwarded_bytes_total",
    "duet_sfu_transport_bytes_total",
    "duet_sfu_keyframe_requests_total",
    "duet_sfu_keyframe_requests_absorbed_total",
    "duet_sfu_dropped_frames_total",
    "duet_moderation_enabled",
    "duet_moderation_checks_run_total",
    "duet_moderation_check_latency_seconds",
    "duet_moderation_breaker_state",
    "duet_moderation_workers_cpu_seconds_total",
]
"""Every metric docs/metrics.md documents (a family is declared even before its first
sample, as ``duet_ws_errors_total`` is until the first refused message)."""


@pytest.fixture
def node(tmp_path: Path, loopback_only: None) -> Iterator[DuetServer]:
    """A node that samples SFU stats often and logs JSON."""
    env = {"DUET_SFU__STATS_INTERVAL_S": "0.2", "DUET_LOG_FORMAT": "json"}
    with run_duet(tmp_path, env) as server:
        yield server


async def _scrape(server: DuetServer) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(server.url + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def _get(values: dict[str, float], name: str, **labels: str) -> float:
    key = f"{name}{{{','.join(f'{k}={v}' for k, v in sorted(labels.items()))}}}"
    return values[key]


async def test_named_metrics_exist_and_move_with_calls(
    node: DuetServer, callers: list[object]
) -> None:
    async with httpx.AsyncClient() as http:
        text = (await http.get(node.url + "/metrics")).text
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert not [name for name in NAMED if name not in declared]
    before = await _scrape(node)
    assert _get(before, "duet_matches_started_total", mode="video") == 0
    assert _get(before, "duet_visitors_connected", mode="video") == 0
    assert _get(before, "duet_moderation_enabled") == 0  # tests run nodes without moderation

    a = await Caller(node.ws_url).connect()
    b = await Caller(node.ws_url).connect()
    callers.extend([a, b])
    connected = await _scrape(node)
    assert _get(connected, "duet_visitors_connected", mode="none") == 2

    await a.join("video")
    await a.wait_for("queued")
    waiting = await _scrape(node)
    assert _get(waiting, "duet_visitors_waiting", queue="video") == 1
    assert _get(waiting, "duet_visitors_connected", mode="video") == 1

    await b.join("video")
    await a.wait_for("matched")
    await b.wait_for("matched")
    await a.wait_frames_like(b.rgb, count=15)
    in_call = await _scrape(node)
    assert _get(in_call, "duet_matches_active", mode="video") == 1
    assert _get(in_call, "duet_matches_started_total", mode="video") == 1
    assert _get(in_call, "duet_visitors_waiting", queue="video") == 0
    assert _get(in_call, "duet_time_to_match_seconds_count", mode="video", since="join") == 2
    assert _get(in_call, "duet_sfu_peers", state="connected") == 2

    deadline = time.monotonic() + 10
    while True:
        values = await _scrape(node)
        video = _get(values, "duet_sfu_forwarded_packets_total", kind="video")
        audio = _get(values, "duet_sfu_forwarded_bytes_total", kind="audio")
        if video > 50 and audio > 0:
            break
        assert time.monotonic() < deadline, "SFU counters did not move"
        await asyncio.sleep(0.1)
    keyframes = _get(await _scrape(node), "duet_sfu_keyframe_requests_total")
    assert keyframes >= 1  # the partner's first picture needs one in passthrough

    await a.send("{not json")
    await a.wait_for("error", code="bad_json")
    await a.send({"type": "next"})
    await b.wait_for("partner_left")
    after = await _scrape(node)
    assert _get(after, "duet_ws_errors_total", code="bad_json") == 1
    assert _get(after, "duet_matches_ended_total", mode="video", reason="next") == 1
    assert _get(after, "duet_matches_active", mode="video") == 0
    assert _get(after, "duet_match_duration_seconds_count", mode="video") == 1
    assert _get(after, "process_cpu_seconds_total") > _get(before, "process_cpu_seconds_total")

    # JSON logs: one object per line, with the ids of what the line is about.
    lines = [json.loads(line) for line in node.log().splitlines() if line.startswith("{")]
    started = [line for line in lines if line["message"] == "match started"]
    assert started and started[0]["match"].startswith("m_")
    assert started[0]["visitor"] in (a.visitor, b.visitor)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
