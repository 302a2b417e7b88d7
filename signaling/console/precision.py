"""Measured precision of automatic actions, from reviewers' QA decisions.

Per stratum (kind, source, classifier, reason) over a window of ``days``: automatic
actions and how many were sampled, decided QA items, the share judged correct with a
Wilson score interval (95 %), and the score distribution of the wrong ones (so an operator
sees whether ``ban_score`` or a class threshold is too low).

Assumptions: an appeal that overturned an automatic ban counts as *wrong* whether or not
the ban was sampled. Appeals only ever add wrong ones, so with many of them the share is a
conservative (low) estimate; ``wrong_via_appeal`` says how many there were. Actions are
counted by when they were made, decisions by when they were decided.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from signaling.storage.qa import QaItem, QaStore, StratumCount

Z95 = 1.959963984540054
SCORE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
"""Upper bounds of the wrong items' score histogram (a score above 1 cannot happen)."""
ALL = ("all", "all", "all", "all")

Key = tuple[str, str, str, str]


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion; ``None`` for no trials."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


@dataclass
class Stratum:
    kind: str
    source: str
    classifier: str
    reason: str
    actions: int = 0
    sampled: int = 0
    correct: int = 0
    wrong: int = 0
    wrong_via_appeal: int = 0
    wrong_scores: list[float] = field(default_factory=list)

    @property
    def decided(self) -> int:
        return self.correct + self.wrong

    @property
    def precision(self) -> float | None:
        return None if self.decided == 0 else self.correct / self.decided

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.correct, self.decided)

    def buckets(self) -> list[int]:
        """Cumulative counts of wrong items' scores per :data:`SCORE_BUCKETS` bound."""
        return [sum(1 for s in self.wrong_scores if s <= bound) for bound in SCORE_BUCKETS]

    def as_dict(self) -> dict[str, Any]:
        interval = self.interval
        scores = sorted(self.wrong_scores)
        return {
            "kind": self.kind,
            "source": self.source,
            "classifier": self.classifier,
            "reason": self.reason,
            "actions": self.actions,
            "sampled": self.sampled,
            "decided": self.decided,
            "correct": self.correct,
            "wrong": self.wrong,
            "wrong_via_appeal": self.wrong_via_appeal,
            "precision": self.precision,
            "interval": None if interval is None else list(interval),
            "wrong_scores": {
                "count": len(scores),
                "min": scores[0] if scores else None,
                "median": statistics.median(scores) if scores else None,
                "max": scores[-1] if scores else None,
                "buckets": [
                    {"le": bound, "count": n}
                    for bound, n in zip(SCORE_BUCKETS, self.buckets(), strict=True)
                ],
            },
        }


@dataclass(frozen=True)
class PrecisionReport:
    at: datetime
    days: float
    strata: list[Stratum]
    total: Stratum

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "days": self.days,
            "strata": [s.as_dict() for s in self.strata],
            "total": self.total.as_dict(),
        }


def build_report(
    now: datetime, days: float, counts: Iterable[StratumCount], decided: Iterable[QaItem]
) -> PrecisionReport:
    """Combine per-stratum action counts and decided items into a report (strata sorted by
    kind, source, classifier, reason)."""
    by_key: dict[Key, Stratum] = {}
    total = Stratum(*ALL)

    def stratum(key: Key) -> Stratum:
        if key not in by_key:
            by_key[key] = Stratum(*key)
        return by_key[key]

    for count in counts:
        row = stratum(count.stratum)
        row.actions += count.actions
        row.sampled += count.sampled
        total.actions += count.actions
        total.sampled += count.sampled
    for item in decided:
        for row in (stratum(item.action.stratum), total):
            if item.status == "correct":
                row.correct += 1
            elif item.status == "wrong":
                row.wrong += 1
                row.wrong_via_appeal += int(item.via == "appeal")
                if item.action.score is not None:
                    row.wrong_scores.append(item.action.score)
    return PrecisionReport(now, days, [by_key[k] for k in sorted(by_key)], total)


async def precision_report(store: QaStore, now: datetime, days: float) -> PrecisionReport:
    since = now - timedelta(days=days)
    counts = await store.counts_since(since)
    decided = await store.decided_since(since)
    return build_report(now, days, counts, decided)


class Precision:
    """The node's latest precision report (the dashboard and ``/metrics`` refresh it)."""

    def __init__(self, store: QaStore, days: float, now: Callable[[], datetime]) -> None:
        self.store = store
        self.days = days
        self.now = now
        self.latest: PrecisionReport | None = None

    async def refresh(self) -> PrecisionReport:
        self.latest = await precision_report(self.store, self.now(), self.days)
        return self.latest
