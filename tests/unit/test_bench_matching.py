"""``duet bench matching`` drives the real matchmaker consistently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from benchmarks.matching import MatchingBench, MatchingOptions, run_matching


@pytest.mark.parametrize(("interests", "languages"), [(0, 0), (12, 3)])
def test_the_simulation_keeps_the_matchmaker_and_its_bookkeeping_in_step(
    interests: int, languages: int
) -> None:
    options = MatchingOptions(
        visitors=200, operations=5_000, ops_per_s=50, interests=interests, languages=languages
    )
    bench = MatchingBench(options)
    result = bench.run()
    assert result.pairings >= 100  # every visitor is paired at least once at the start
    assert set(result.latencies_us) >= {"join", "next", "leave"}
    assert result.latencies_us.get("retry"), "cooldowns and preferences make visitors retry"
    queued = {v for v in bench.ids if bench.matchmaker.ticket(v) is not None}
    assert queued == bench.waiting
    assert not queued & set(bench.partner)
    for a, b in bench.partner.items():
        assert bench.partner[b] == a


def test_report_and_json(tmp_path: Path) -> None:
    path = tmp_path / "matching.json"
    options = MatchingOptions(visitors=50, operations=500, json_path=path)
    console = Console(record=True, width=120)
    assert run_matching(options, console) == 0
    assert "pairings per second" in console.export_text()
    report = json.loads(path.read_text())
    assert report["pairings"] > 0 and report["pairings_per_s"] > 0
    assert report["operations"]["join"]["count"] >= 50
    assert report["operations"]["next"]["p95_us"] >= report["operations"]["next"]["p50_us"]


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        MatchingOptions(visitors=1)
    with pytest.raises(ValueError):
        MatchingOptions(ops_per_s=0)
