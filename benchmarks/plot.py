"""The ``--plot`` PNG of ``duet bench calls``: a timeline of the run, in seconds since go.

Three panels sharing the time axis: callers (connected, in a match, receiving their
partner's picture); delivered media (video frames/s and audio packets/s received by all
callers, against the video frames/s the callers in a match should get; Next presses); and
the server (CPU cores and RSS from its ``/metrics``). The steady window is shaded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from benchmarks.caller import UNREADABLE, CallerRecord
from benchmarks.calls import RunData

MB = 1024 * 1024


@dataclass
class Timeline:
    """Per-bin series (bin ``i`` covers ``[t0 + i * step, t0 + (i + 1) * step)``)."""

    t: list[float]
    connected: list[int]
    in_match: list[int]
    receiving: list[int]
    fps: list[float]
    """Video frames per second received by all callers together (frames with a readable
    mark that is not the receiver's own)."""
    audio_pps: list[float]
    """Audio packets per second received by all callers together."""
    nexts: list[float]
    """Times of Next presses."""


def timeline(records: list[CallerRecord], t0: float, t1: float, step: float = 1.0) -> Timeline:
    bins = max(1, int((t1 - t0) / step))  # whole bins only: a partial one would read low
    times = [t0 + (i + 0.5) * step for i in range(bins)]
    connected = [0] * bins
    in_match = [0] * bins
    receiving = [0] * bins
    frames = [0] * bins
    audio = [0] * bins
    nexts: list[float] = []
    for record in records:
        for i, mid in enumerate(times):
            if record.connected_at is not None and record.connected_at <= mid:
                connected[i] += 1
            if any(
                m.matched_at <= mid and (m.ended_at is None or mid < m.ended_at)
                for m in record.matches
            ):
                in_match[i] += 1
        seen = [0] * bins
        for at, mark in zip(record.frame_times, record.frame_marks, strict=True):
            i = int((at - t0) / step)
            if 0 <= i < bins and mark not in (UNREADABLE, record.index):
                seen[i] += 1
        for i, count in enumerate(seen):
            if count:
                receiving[i] += 1
                frames[i] += count
        for at in record.audio_times:
            i = int((at - t0) / step)
            if 0 <= i < bins:
                audio[i] += 1
        nexts.extend(m.ended_at for m in record.matches if m.end == "next" and m.ended_at)
    return Timeline(
        t=[t - t0 for t in times],
        connected=connected,
        in_match=in_match,
        receiving=receiving,
        fps=[f / step for f in frames],
        audio_pps=[a / step for a in audio],
        nexts=[n - t0 for n in sorted(nexts)],
    )


def plot_timeline(data: RunData, path: Path) -> None:
    """Write the PNG (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0, t1 = data.go, data.window_end
    series = timeline(data.records, t0, t1, step=0.5)
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    options = data.options
    figure.suptitle(
        f"duet bench calls: {options.calls} call(s), {options.video.label}, "
        f"{data.health.get('forwarding', '?')} forwarding"
    )
    for axis in (top, middle, bottom):
        axis.axvspan(data.window_start - t0, data.window_end - t0, color="0.92", zorder=0)
        axis.grid(True, alpha=0.3)

    top.step(series.t, series.connected, where="mid", label="connected")
    top.step(series.t, series.in_match, where="mid", label="in a match")
    top.step(series.t, series.receiving, where="mid", label="receiving a picture")
    top.set_ylabel("callers")
    top.set_ylim(0, options.callers * 1.1 + 0.5)
    top.legend(loc="lower right", fontsize="small")

    middle.plot(series.t, series.fps, label="video frames/s received")
    expected = [n * options.video.fps for n in series.in_match]
    middle.step(
        series.t, expected, where="mid", color="0.4", linestyle=":", label="video frames/s due"
    )
    middle.plot(series.t, series.audio_pps, label="audio packets/s received", alpha=0.6)
    for at in series.nexts:
        middle.axvline(at, color="tab:red", alpha=0.3, linewidth=0.8)
    middle.set_ylabel("all callers")
    middle.legend(loc="lower right", fontsize="small")

    samples = sorted(data.samples, key=lambda s: s.at)
    cpu_t, cpu = [], []
    for before, after in itertools.pairwise(samples):
        if before.cpu_seconds is None or after.cpu_seconds is None or after.at <= before.at:
            continue
        cpu_t.append((before.at + after.at) / 2 - t0)
        cpu.append((after.cpu_seconds - before.cpu_seconds) / (after.at - before.at))
    bottom.plot(cpu_t, cpu, color="tab:purple", label="server CPU (cores)")
    bottom.set_ylabel("server CPU (cores)")
    bottom.set_xlabel("seconds since the first caller started (shaded: steady window)")
    rss = bottom.twinx()
    rss_points = [(s.at - t0, s.rss_bytes / MB) for s in samples if s.rss_bytes is not None]
    if rss_points:
        rss.plot(*zip(*rss_points, strict=True), color="tab:gray", label="server RSS (MB)")
    rss.set_ylabel("server RSS (MB)")
    handles = bottom.get_legend_handles_labels()
    more = rss.get_legend_handles_labels()
    bottom.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
