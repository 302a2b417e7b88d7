"""Percentiles and the p50 / p95 / max summaries every benchmark reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values`` with linear interpolation between the
    closest ranks (numpy's default); ``None`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Distribution of one measured quantity; every figure is ``None`` without values."""

    count: int
    min: float | None
    p50: float | None
    p95: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        data = [float(v) for v in values]
        if not data:
            return cls(0, None, None, None, None, None)
        return cls(
            count=len(data),
            min=min(data),
            p50=percentile(data, 50),
            p95=percentile(data, 95),
            max=max(data),
            mean=sum(data) / len(data),
        )

    def pick(self, *names: str, digits: int = 1) -> dict[str, float | None]:
        """Some of the figures by name (``"p50"``, ``"p95"``, ``"max"``, ``"min"``,
        ``"mean"``, ``"count"``), rounded for reports."""
        out: dict[str, float | None] = {}
        for name in names:
            value = getattr(self, name)
            out[name] = None if value is None else round(float(value), digits)
        return out
