"""``duet bench udp-floor``: a real uvloop relay process on loopback relays what is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.udp_floor import FloorOptions, run_floor
from duet.cli import main


@pytest.mark.parametrize("burst", [1, 3])
def test_the_relay_returns_every_datagram_and_its_cpu_is_measured(burst: int) -> None:
    result = run_floor(FloorOptions(callers=4, pps=150, size=200, burst=burst, duration=1.5))
    assert result.burst == burst and result.window_s >= 1.5
    assert result.sent_pps > 0
    # Loopback at a low rate: the relay sends back what it gets.
    assert result.returned_pps == pytest.approx(result.sent_pps, rel=0.02)
    assert result.relay_cores >= 0
    assert result.relay_cores_per_call == pytest.approx(result.relay_cores / 2, abs=1e-4)
    rounding = 0.00005 / result.sent_pps * 1e6 + 0.05  # cores to 4 places, µs to 1
    assert result.relay_us_per_packet == pytest.approx(
        result.relay_cores / result.sent_pps * 1e6, abs=rounding
    )


def test_the_command_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "floor.json"
    status = main(
        [
            "bench",
            "udp-floor",
            "--callers",
            "2",
            "--pps",
            "100",
            "--duration",
            "1",
            "--json",
            str(report),
        ]
    )
    assert status == 0
    figures = json.loads(report.read_text())
    assert figures["callers"] == 2 and figures["returned_pps"] > 0
    assert set(figures) >= {
        "relay_cores",
        "relay_us_per_packet",
        "relay_cores_per_call",
        "sent_pps",
    }
