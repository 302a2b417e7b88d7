"""Measured precision in ``/metrics``: the latest :class:`~.precision.PrecisionReport`.

The report comes from the database, which a Prometheus collector (synchronous, called at
scrape time) cannot query: the ``/metrics`` endpoint refreshes :class:`.Precision` first
(:meth:`signaling.service.metrics.Metrics.refresh`), and this collector reads what it holds.
Labels: ``kind``, ``source``, ``classifier``, ``reason`` of the stratum; one series with
every label ``all`` sums them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from signaling.console.precision import SCORE_BUCKETS, Precision, Stratum

LABELS = ["kind", "source", "classifier", "reason"]
PREFIX = "duet_qa_"


class QaCollector(Collector):
    def __init__(self, precision: Precision) -> None:
        self._precision = precision

    def describe(self) -> Iterable[Metric]:
        return list(self._families([]))

    def collect(self) -> Iterable[Metric]:
        report = self._precision.latest
        rows = [] if report is None else [*report.strata, report.total]
        return list(self._families(rows))

    def _families(self, rows: list[Stratum]) -> Iterator[Metric]:
        days = f"{self._precision.days:g}"
        gauges = {
            "actions": ("Automatic actions (bans, holds) in the last {} days.", "actions"),
            "sampled": ("Automatic actions sampled for QA in the last {} days.", "sampled"),
            "decided": ("QA decisions (correct or wrong) in the last {} days.", "decided"),
            "correct": ("QA decisions that found the action correct.", "correct"),
            "wrong_via_appeal": ("Wrong ones found by an overturned appeal.", "wrong_via_appeal"),
        }
        for name, (help_text, attribute) in gauges.items():
            family = GaugeMetricFamily(PREFIX + name, help_text.format(days), labels=LABELS)
            for row in rows:
                family.add_metric(_labels(row), float(getattr(row, attribute)))
            yield family
        share = GaugeMetricFamily(
            PREFIX + "precision",
            "Share of decided QA items found correct (absent while none were decided).",
            labels=LABELS,
        )
        lower = GaugeMetricFamily(
            PREFIX + "precision_lower", "Wilson 95% interval: low end.", labels=LABELS
        )
        upper = GaugeMetricFamily(
            PREFIX + "precision_upper", "Wilson 95% interval: high end.", labels=LABELS
        )
        for row in rows:
            interval = row.interval
            if row.precision is None or interval is None:
                continue
            share.add_metric(_labels(row), row.precision)
            lower.add_metric(_labels(row), interval[0])
            upper.add_metric(_labels(row), interval[1])
        yield share
        yield lower
        yield upper
        scores = HistogramMetricFamily(
            PREFIX + "wrong_score",
            "Model scores of the automatic actions QA found wrong (threshold tuning).",
            labels=LABELS,
        )
        for row in rows:
            counts = zip(SCORE_BUCKETS, row.buckets(), strict=True)
            buckets = [(str(bound), float(n)) for bound, n in counts]
            buckets.append(("+Inf", float(len(row.wrong_scores))))
            scores.add_metric(_labels(row), buckets, sum(row.wrong_scores))
        yield scores


def _labels(row: Stratum) -> list[str]:
    return [row.kind, row.source, row.classifier, row.reason]
