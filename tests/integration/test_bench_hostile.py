"""``duet bench hostile`` against a real node with a small mix: it passes, and counts."""

from __future__ import annotations

from benchmarks.hostile import CATALOGUE
from benchmarks.hostile_bench import HostileOptions, render, run_async
from tests.support.servers import DuetServer


async def test_bench_hostile_small_run_passes_against_a_real_node(duet: DuetServer) -> None:
    report = await run_async(HostileOptions(url=duet.url, messages=300, sockets=3))
    assert report["ok"], render(report)
    assert report["internal"] == 0
    assert report["catalogue"]["cases"] == len(CATALOGUE)
    assert report["catalogue"]["mismatches"] == []
    mix = report["mix"]
    assert mix["frames_sent"] == 300
    # Nearly every frame is refused with an error (a few, like a valid leave, are silent),
    # and every socket read all its answers.
    assert sum(mix["answers_by_code"].values()) >= 270
    assert mix["unanswered_sockets"] == 0
    assert "internal" not in mix["answers_by_code"]
    assert mix["closes_by_code"] == {}  # the mix never makes the node close a socket
    assert report["healthz_checks"] > 0
    assert "Traceback" not in duet.log()
