"""The report of ``duet bench calls``: the JSON document (stable field names, other tools read
them: see docs/benchmarks.md), the summary table, and the exit status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.analysis import CallerResult, Window, analyze, count_calls
from benchmarks.calls import RunData
from benchmarks.offenders import exposure
from benchmarks.scrape import Sample, busy_cores
from benchmarks.stats import Summary
from signaling.service.build import build_info

MB = 1024 * 1024
SCHEMA = 1
"""Version of the JSON layout; bumped only when a field changes meaning or disappears."""


def _rate(before: Sample | None, after: Sample | None, name: str) -> float | None:
    if before is None or after is None or after.at <= before.at:
        return None
    first, last = before.get(name), after.get(name)
    if first is None or last is None:
        return None
    return (last - first) / (after.at - before.at)


def _delta(before: Sample | None, after: Sample | None, name: str, **labels: str) -> float | None:
    if before is None or after is None:
        return None
    first, last = before.get(name, **labels), after.get(name, **labels)
    if first is None or last is None:
        return None
    return last - first


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


WORKERS_CPU = "duet_moderation_workers_cpu_seconds_total"
WORKERS_RSS = "duet_moderation_workers_resident_memory_bytes"
SFU_WORKERS_CPU = "duet_sfu_worker_cpu_seconds_total"
SFU_WORKERS_RSS = "duet_sfu_worker_resident_memory_bytes"


def _rss(sample: Sample | None) -> tuple[float | None, float, float]:
    """(node process, moderation workers, SFU workers) resident memory in bytes."""
    if sample is None:
        return None, 0.0, 0.0
    return sample.rss_bytes, sample.get(WORKERS_RSS) or 0.0, sample.total(SFU_WORKERS_RSS)


def _rate_all(before: Sample | None, after: Sample | None, name: str) -> float:
    """Rate of the sum of every series of ``name`` (0 when there is none)."""
    if before is None or after is None or after.at <= before.at:
        return 0.0
    return max(0.0, after.total(name) - before.total(name)) / (after.at - before.at)


def _server(data: RunData, matched: int) -> dict[str, Any]:
    """The node's cost: its process plus its moderation and SFU worker processes (when it
    has any; they are separate processes, so ``process_*`` alone would leave them out)."""
    start, end, idle = data.at_window_start, data.at_window_end, data.idle
    process_cores = _rate(start, end, "process_cpu_seconds_total")
    worker_cores = _rate(start, end, WORKERS_CPU) or 0.0
    sfu_cores = _rate_all(start, end, SFU_WORKERS_CPU)
    cores = None if process_cores is None else process_cores + worker_cores + sfu_cores
    process_rss, worker_rss, sfu_rss = _rss(end)
    idle_rss, idle_worker_rss, idle_sfu_rss = _rss(idle)
    rss = None if process_rss is None else process_rss + worker_rss + sfu_rss
    rss_idle = None if idle_rss is None else idle_rss + idle_worker_rss + idle_sfu_rss
    latest = end or start or idle
    build = latest.labels.get("duet_build_info", {}) if latest is not None else {}
    per_call_rss = None
    if rss is not None and rss_idle is not None and matched:
        per_call_rss = (rss - rss_idle) / matched / MB
    sfu: dict[str, Any] = {
        "forwarded_packets_per_s": {
            kind: _round(_rate_labelled(start, end, "duet_sfu_forwarded_packets_total", kind), 1)
            for kind in ("audio", "video")
        },
        "forwarded_kbps": {kind: _round(_kbps(start, end, kind), 1) for kind in ("audio", "video")},
        "keyframe_requests": _delta(start, end, "duet_sfu_keyframe_requests_total"),
        "dropped_frames": _delta(start, end, "duet_sfu_dropped_frames_total"),
        "fast_path_packets_per_s": _round(_rate(start, end, "duet_sfu_fast_path_packets_total"), 1),
        "native_packets_per_s": _round(_rate(start, end, "duet_sfu_native_packets_total"), 1),
    }
    enabled = latest.get("duet_moderation_enabled") if latest is not None else None
    breaker = None
    if end is not None:
        breaker = next(
            (
                state
                for state in ("open", "half_open", "closed")
                if end.get("duet_moderation_breaker_state", state=state) == 1
            ),
            None,
        )
    moderation = {
        "enabled": None if enabled is None else bool(enabled),
        "checks_run": _delta(start, end, "duet_moderation_checks_run_total"),
        "model_calls_per_match_minute": _calls_per_match_minute(data, start, end, matched),
        "checks_failed": _delta_all(start, end, "duet_moderation_checks_failed_total"),
        "checks_skipped": _delta_all(start, end, "duet_moderation_checks_skipped_total"),
        "breaker": breaker,
        "cpu_cores_workers": _round(worker_cores),
        "rss_mb_workers": _round(worker_rss / MB, 1),
    }
    return {
        "url": data.options.url,
        "version": build.get("version"),
        "commit": build.get("commit"),
        "forwarding": data.health.get("forwarding"),
        "packet_path": data.health.get("packet_path"),
        "cpu_cores": _round(cores),
        "cpu_cores_per_call": _round(cores / matched if cores is not None and matched else None, 4),
        "cpu_cores_process": _round(process_cores),
        "cpu_cores_sfu_workers": _round(sfu_cores),
        "sfu_workers": len(
            [k for k in (end.values if end is not None else {}) if k.startswith(SFU_WORKERS_CPU)]
        ),
        "rss_mb": _round(rss / MB if rss is not None else None, 1),
        "rss_mb_idle": _round(rss_idle / MB if rss_idle is not None else None, 1),
        "rss_mb_per_call": _round(per_call_rss, 2),
        "sfu": sfu,
        "moderation": moderation,
    }


def _calls_per_match_minute(
    data: RunData, start: Sample | None, end: Sample | None, matched: int
) -> float | None:
    """Model calls (checks run) per minute of each match during the window: what the
    moderation schedule costs, measured (issue 5's goal: <= 8 in the first minute)."""
    checks = _delta(start, end, "duet_moderation_checks_run_total")
    if checks is None or not matched or start is None or end is None or end.at <= start.at:
        return None
    minutes = (end.at - start.at) / 60
    return round(checks / (matched * minutes), 2)


def _delta_all(before: Sample | None, after: Sample | None, name: str) -> float | None:
    """Growth of every series of ``name`` together (all label values)."""
    if before is None or after is None:
        return None
    return after.total(name) - before.total(name)


def _rate_labelled(
    before: Sample | None, after: Sample | None, name: str, kind: str
) -> float | None:
    if before is None or after is None or after.at <= before.at:
        return None
    delta = _delta(before, after, name, kind=kind)
    return None if delta is None else delta / (after.at - before.at)


def _kbps(before: Sample | None, after: Sample | None, kind: str) -> float | None:
    rate = _rate_labelled(before, after, "duet_sfu_forwarded_bytes_total", kind)
    return None if rate is None else rate * 8 / 1000


def _flatten(results: list[CallerResult], attribute: str) -> list[float]:
    values: list[float] = []
    for result in results:
        value = getattr(result, attribute)
        if isinstance(value, list):
            values.extend(value)
        elif value is not None:
            values.append(float(value))
    return values


def build_report(data: RunData) -> dict[str, Any]:
    """The JSON document of a run."""
    options = data.options
    window = Window(data.window_start, data.window_end)
    results, _members = analyze(data.records, window, options.video.fps)
    calls = count_calls(data.records, results, options.calls)
    seconds = window.seconds
    machine_busy = busy_cores(data.machine_start, data.machine_end, seconds)
    cores = os.cpu_count() or 1
    worker_cpu = [s.get("cpu_window_s") for s in data.worker_stats]
    generator_cpu = None
    if seconds > 0 and all(c is not None for c in worker_cpu):
        generator_cpu = (sum(float(c or 0) for c in worker_cpu) + data.main_cpu_window_s) / seconds
    sent = sum(r.video_sent for r in data.records)
    late = sum(r.late_frames for r in data.records)
    build = build_info()
    next_first = Summary.of(_flatten(results, "next_first_frame_ms"))
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "benchmark": "calls",
        "duet": {"version": build.version, "commit": build.commit},
        "started_at": data.started_at.isoformat(timespec="seconds"),
        "args": options.as_args(),
        "duration_s": round(seconds, 3),
        "calls": {
            "requested": calls.requested,
            "matched": calls.matched,
            "media_ok": calls.media_ok,
        },
        "callers": {
            "requested": options.callers,
            "connected": sum(1 for r in results if r.connected),
            "matched": sum(1 for r in results if r.matched),
            "right_partner": sum(1 for r in results if r.right_partner),
            "media_ok": sum(1 for r in results if r.media_ok),
        },
        "time_to_match_ms": Summary.of(_flatten(results, "time_to_match_ms")).pick(
            "p50", "p95", "max"
        ),
        "first_frame_ms": Summary.of(_flatten(results, "first_frame_ms")).pick("p50", "p95", "max"),
        "next_first_frame_ms": (
            next_first.pick("p50", "p95", "max") if options.next_every is not None else None
        ),
        "next_to_match_ms": (
            Summary.of(_flatten(results, "next_to_match_ms")).pick("p50", "p95", "max")
            if options.next_every is not None
            else None
        ),
        "match_first_frame_ms": Summary.of(_flatten(results, "match_first_frame_ms")).pick(
            "p50", "p95", "max"
        ),
        "fps": Summary.of(_flatten(results, "fps")).pick("p50", "min"),
        "frames": {
            "expected": round(sum(r.frames_expected for r in results)),
            "received": sum(r.frames_received for r in results),
            "lost": round(sum(r.frames_lost for r in results)),
            "undecodable": sum(int(s.get("decode_errors", 0)) for s in data.worker_stats),
            "stale": sum(r.stale_frames for r in results),
            "in_flight": sum(r.in_flight_frames for r in results),
            "wrong_partner": sum(r.wrong_frames for r in results),
            "own": sum(r.own_frames for r in results),
            "unreadable_mark": sum(r.unreadable_frames for r in results),
        },
        "audio": {
            "packets_received": sum(r.audio_packets for r in results),
            "packets_per_s": Summary.of(_flatten(results, "audio_pps")).pick("p50", "min"),
        },
        "lip_sync": _lip_sync(data, results),
        "nexts": sum(r.nexts for r in results),
        "server": _server(data, calls.matched),
        "load_generator": {
            "workers": len(data.worker_stats),
            "cpu_cores": _round(generator_cpu),
            "clip_encode_cpu_s": _round(data.encode_cpu_s, 2),
            "video": options.video.label,
            "video_kbps": _round(data.clip_kbps, 1),
            "audio_kbps": _round(data.audio_kbps, 1),
            "late_frame_ratio": _round(late / sent if sent else None, 4),
            "keyframe_requests_received": sum(r.keyframe_requests for r in data.records),
        },
        "machine": {
            "cores": cores,
            "cpu_busy_cores": _round(machine_busy),
        },
        "setup_complete": data.setup_complete,
        "exposure": (
            exposure(data.records, options.offender_indices) if options.offenders else None
        ),
        "failures": _failures(results),
        "warnings": [],
        "per_caller": [_caller_json(r) for r in results],
    }
    report["warnings"] = _warnings(report, options.calls, options.next_every)
    return report


def _lip_sync(data: RunData, results: list[CallerResult]) -> dict[str, Any]:
    """Audio-video offsets of the clip's marks (ms; see :mod:`benchmarks.lipsync`)."""
    offsets = _flatten(results, "av_offset_ms")
    return {
        "pairs": len(offsets),
        "unpaired": sum(r.av_unpaired for r in results),
        "offset_ms": Summary.of(offsets).pick("p50", "min", "max"),
        "abs_offset_ms": Summary.of(abs(v) for v in offsets).pick("p50", "p95", "max"),
        "arrival_offset_ms": Summary.of(_flatten(results, "av_arrival_offset_ms")).pick(
            "p50", "min", "max"
        ),
        "reports_without_clock": sum(
            1 for r in data.records for k in r.sync.reports.values() for _, ntp, _ in k if ntp == 0
        ),
        "sender_offset_ms": Summary.of(v * 1000 for r in data.records for v in r.mark_offsets).pick(
            "min", "max"
        ),
    }


def _caller_json(result: CallerResult) -> dict[str, Any]:
    return {
        "index": result.index,
        "visitor": result.visitor,
        "matched": result.matched,
        "media_ok": result.media_ok,
        "right_partner": result.right_partner,
        "time_to_match_ms": _round(result.time_to_match_ms, 1),
        "first_frame_ms": _round(result.first_frame_ms, 1),
        "fps": _round(result.fps, 2),
        "frames_expected": round(result.frames_expected),
        "frames_received": result.frames_received,
        "matches": result.matches,
        "nexts": result.nexts,
        "audio_packets": result.audio_packets,
        "problems": result.problems,
    }


def _failures(results: list[CallerResult]) -> list[str]:
    return [f"caller {r.index}: {'; '.join(r.problems)}" for r in results if r.problems]


def _warnings(report: dict[str, Any], calls: int, next_every: float | None) -> list[str]:
    warnings = []
    machine = report["machine"]
    if machine["cpu_busy_cores"] is not None and machine["cpu_busy_cores"] > 0.9 * machine["cores"]:
        warnings.append(
            f"this machine's CPU was saturated ({machine['cpu_busy_cores']:.2f} of "
            f"{machine['cores']} cores busy): the figures show the machine's limit, not only "
            "the server's"
        )
    late = report["load_generator"]["late_frame_ratio"]
    if late is not None and late > 0.05:
        warnings.append(
            f"the load generator sent {late:.0%} of its video frames late: it could not keep "
            "up, and part of the lost frames and latency are its own"
        )
    if next_every is not None and calls < 2:
        warnings.append(
            "--next-every with one call: the two callers can only re-match each other, after "
            "the server's rematch cooldown (matching.rematch_cooldown_s)"
        )
    if not report["setup_complete"]:
        warnings.append("not every caller had its partner's picture when the window started")
    moderation = report["server"]["moderation"]
    if moderation["breaker"] in ("open", "half_open"):
        warnings.append(
            f"the node's moderation breaker was {moderation['breaker']} at the end (checks "
            "failing, skipped: fail open): its moderation cost is not measured"
        )
    if report["server"]["cpu_cores"] is None:
        warnings.append(
            "server CPU was not measured: the node did not answer /metrics at both ends of the "
            "window"
        )
    if any("429" in failure for failure in report["failures"]):
        warnings.append(
            "the node rate-limited the bench (all callers come from one address): list that "
            "address in the node's limits.exempt_networks, e.g. "
            "DUET_LIMITS__EXEMPT_NETWORKS='[\"127.0.0.0/8\"]'"
        )
    return warnings


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def _ms(summary: dict[str, Any] | None, key: str) -> str:
    if summary is None or summary.get(key) is None:
        return "-"
    return f"{summary[key]:.0f}"


def print_summary(console: Console, report: dict[str, Any]) -> None:
    """The summary table and the headline figures."""
    calls = report["calls"]
    table = Table(
        title=f"duet bench calls: {calls['requested']} call(s), {report['args']['video']}"
    )
    table.add_column("per caller", style="bold")
    for column in ("p50", "p95", "max"):
        table.add_column(column, justify="right")
    for label, key in (
        ("time to match (ms)", "time_to_match_ms"),
        ("join → first frame (ms)", "first_frame_ms"),
        ("matched → first frame (ms)", "match_first_frame_ms"),
        ("next → matched (ms)", "next_to_match_ms"),
        ("next → first frame (ms)", "next_first_frame_ms"),
    ):
        summary = report[key]
        if summary is None:
            continue
        table.add_row(label, _ms(summary, "p50"), _ms(summary, "p95"), _ms(summary, "max"))
    fps = report["fps"]
    table.add_row(
        "delivered fps (p50 / min)",
        "-" if fps["p50"] is None else f"{fps['p50']:.1f}",
        "",
        "-" if fps["min"] is None else f"min {fps['min']:.1f}",
    )
    console.print(table)
    frames = report["frames"]
    server = report["server"]
    generator = report["load_generator"]
    lines = [
        f"calls: {calls['requested']} requested, {calls['matched']} matched, "
        f"{calls['media_ok']} media ok",
        f"frames: {frames['received']} of {frames['expected']} expected, "
        f"{frames['undecodable']} undecodable, {frames['wrong_partner']} wrong partner, "
        f"{frames['own']} own, {frames['stale']} stale (must be 0), "
        f"{frames.get('in_flight', 0)} in flight; audio packets "
        f"{report['audio']['packets_received']}",
        _lip_sync_line(report["lip_sync"]),
        f"server ({server['forwarding']}{_moderation_note(server)}): "
        f"{_num(server['cpu_cores'], 3)} cores "
        f"({_num(server['cpu_cores_per_call'], 4)} per call), RSS {_num(server['rss_mb'], 1)} MB "
        f"({_num(server['rss_mb_per_call'], 2)} MB per call over idle "
        f"{_num(server['rss_mb_idle'], 1)} MB)",
        f"load generator: {_num(generator['cpu_cores'], 3)} cores in {generator['workers']} "
        f"worker(s); machine: {_num(report['machine']['cpu_busy_cores'], 2)} of "
        f"{report['machine']['cores']} cores busy; window {report['duration_s']:.1f} s",
    ]
    found = report.get("exposure")
    if found is not None:
        ms = found["ms_to_sanction"]
        lines.append(
            f"offenders ({report['args']['offender_kind']}): {found['sanctioned']} of "
            f"{found['offenders']} banned or held; matched → ban/hold ms p50 "
            f"{_num(ms['p50'], 0)}, p95 {_num(ms['p95'], 0)}, max {_num(ms['max'], 0)}; "
            f"offender frames each partner decoded p50 "
            f"{_num(found['frames_to_partners']['p50'], 0)}, "
            f"max {_num(found['frames_to_partners']['max'], 0)}"
        )
    for line in lines:
        console.print(line, highlight=False)
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _lip_sync_line(sync: dict[str, Any]) -> str:
    size, offset, arrival = sync["abs_offset_ms"], sync["offset_ms"], sync["arrival_offset_ms"]
    return (
        f"lip sync: {sync['pairs']} marks, |audio − video| by Sender Reports p50 "
        f"{_num(size['p50'], 0)} / p95 {_num(size['p95'], 0)} / max {_num(size['max'], 0)} ms "
        f"(signed {_num(offset['min'], 0)}..{_num(offset['max'], 0)}); by arrival p50 "
        f"{_num(arrival['p50'], 0)} ms; {sync['unpaired']} unpaired; "
        f"{sync['reports_without_clock']} Sender Reports with NTP 0 (must be 0)"
    )


def _moderation_note(server: dict[str, Any]) -> str:
    moderation = server["moderation"]
    if not moderation["enabled"]:
        return ", moderation off" if moderation["enabled"] is False else ""
    return (
        f", moderation on: {_num(moderation['checks_run'], 0)} checks run, "
        f"{_num(moderation['checks_failed'], 0)} failed, "
        f"{_num(moderation['checks_skipped'], 0)} skipped, breaker {moderation['breaker']}, "
        f"{_num(moderation['cpu_cores_workers'], 3)} cores in its workers"
    )


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def exit_status(report: dict[str, Any]) -> tuple[int, str]:
    """0 when every requested call matched with media ok (with ``--offenders``: when every
    offender was banned or held); else 1 and why."""
    found = report.get("exposure")
    if found is not None:
        if found["sanctioned"] == found["offenders"]:
            return 0, ""
        return 1, (
            f"[bold red]duet bench calls:[/] only {found['sanctioned']} of "
            f"{found['offenders']} offender(s) were banned or held before the run ended "
            "(a longer --duration? is the node's classifier "
            "benchmarks.offenders:tint_classifier?)"
        )
    calls = report["calls"]
    if calls["media_ok"] == calls["requested"]:
        return 0, ""
    failures = report["failures"]
    shown = "\n  ".join(failures[:10])
    more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
    return 1, (
        f"[bold red]duet bench calls:[/] {calls['media_ok']} of {calls['requested']} call(s) "
        f"ok ({calls['matched']} matched):\n  {shown}{more}"
    )
