"""Moderation counters, as plain objects the composition root can export (``/metrics``).

Names map to metrics one to one, e.g. ``checks_skipped["rate_limited"]`` ->
``duet_moderation_checks_skipped_total{reason="rate_limited"}``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Histogram:
    """Cumulative-bucket histogram (Prometheus style) plus the last samples for quantiles."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    """Observations per bucket (not cumulative); the last slot is +Inf."""
    total: float = 0.0
    count: int = 0
    recent: list[float] = field(default_factory=list)
    """Up to ``keep`` most recent samples (for p50/p95 in benchmarks and logs)."""
    keep: int = 2048

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1
        self.recent.append(value)
        if len(self.recent) > self.keep:
            del self.recent[: len(self.recent) - self.keep]

    def quantile(self, q: float) -> float | None:
        if not self.recent:
            return None
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class ModerationStats:
    """Everything the video and chat moderators count."""

    checks_scheduled: int = 0
    """Checks that came due (scheduled offsets and confirmations)."""
    checks_run: int = 0
    """Checks that produced a verdict."""
    report_checks: int = 0
    """Immediate checks asked for by image reports (also counted in checks_scheduled)."""
    checks_skipped: Counter[str] = field(default_factory=Counter)
    """By reason: visitor_stopped, match_in_flight, rate_limited, daily_budget,
    breaker_open, breaker_half_open, no_frame, busy, starting."""
    checks_failed: Counter[str] = field(default_factory=Counter)
    """By reason: worker_died, timeout, classifier_error, unavailable, error."""
    verdicts: Counter[str] = field(default_factory=Counter)
    """By outcome: safe, unsafe, minor, unsafe_minor."""
    faces: Counter[str] = field(default_factory=Counter)
    """Verdicts with ``face`` / ``no_face`` (face presence)."""
    prescreens: Counter[str] = field(default_factory=Counter)
    """Pre-screens by outcome: opened (safe), held (unsafe or possible minor: the partner
    never saw the video), fail_open_<reason> (breaker_open, rate_limited, ...: opened
    unchecked), fail_open_error."""
    face_gate: Counter[str] = field(default_factory=Counter)
    """Safe pre-screens by face presence (face, no_face) when ``require_face`` is on."""
    latency_s: Histogram = field(default_factory=Histogram)
    """Tap request to verdict, in seconds."""
    bans: Counter[str] = field(default_factory=Counter)
    """By source: video, text, report."""
    review_items: Counter[str] = field(default_factory=Counter)
    """By priority: high, normal (holds included)."""
    holds: int = 0
    """Visitors held (possible minor in explicit video)."""
    messages_checked: int = 0
    messages_flagged: Counter[str] = field(default_factory=Counter)
    """By reason: word, toxicity."""
    warnings: int = 0
    """``warning`` events sent for flagged chat."""
