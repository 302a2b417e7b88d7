"""`duet bench sfu` end to end: a node of its own per mode, one call each, one JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_sfu_compares_the_modes(tmp_path: Path) -> None:
    out = tmp_path / "sfu.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "duet.cli",
            "bench",
            "sfu",
            "--calls",
            "1",
            "--duration",
            "3",
            "--video",
            "320x240@30",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["modes"]) == {"packets", "passthrough", "transcode"}
    for mode in report["modes"].values():
        assert mode["calls_media_ok"] == 1
        assert mode["cpu_cores_per_call"] > 0
        assert mode["fps"]["min"] > 20
        # Lip sync: every receiver saw the clip's marks, and no Sender Report without a
        # clock (a packets node announced NTP 0 before the source's first report once).
        sync = mode["lip_sync"]
        assert sync["pairs"] >= 1 and sync["reports_without_clock"] == 0, sync
    for name in ("packets", "passthrough"):
        # Forwarding keeps the capture timing: a wrong translation is off by seconds.
        assert report["modes"][name]["lip_sync"]["abs_offset_ms"]["max"] < 200, name
    # Transcoding decodes and re-encodes every frame: it must cost more than passthrough.
    assert report["transcode_over_passthrough_cores"] > 1.5
    assert "transcode / passthrough" in result.stdout
    assert "passthrough / packets" in result.stdout
    assert report["passthrough_over_packets_cores"] is not None
