"""Percentiles and summaries of the benchmarks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.stats import Summary, percentile


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-6)


def test_percentile_edges() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([10, 0], 0) == 0
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_summary() -> None:
    summary = Summary.of(range(1, 101))
    assert summary.count == 100
    assert summary.min == 1 and summary.max == 100
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p95 == pytest.approx(95.05)
    assert summary.mean == pytest.approx(50.5)
    assert summary.pick("p50", "p95", "max") == {"p50": 50.5, "p95": 95.0, "max": 100.0}
    empty = Summary.of([])
    assert empty.count == 0
    assert empty.pick("p50", "min") == {"p50": None, "min": None}
