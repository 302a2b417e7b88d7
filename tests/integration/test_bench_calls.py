"""``duet bench calls`` against a real node: the JSON report, the plot, and clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.net import free_port
from tests.support.servers import DuetServer, run_duet


def _bench(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "duet.cli", "bench", "calls", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_two_calls_report_media_ok_with_numbers(duet: DuetServer, tmp_path: Path) -> None:
    report_path, plot_path = tmp_path / "calls.json", tmp_path / "calls.png"
    result = _bench(
        "--url", duet.url, "--calls", "2", "--duration", "5",
        "--json", str(report_path), "--plot", str(plot_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["calls"] == {"requested": 2, "matched": 2, "media_ok": 2}, report["failures"]
    for field in ("time_to_match_ms", "first_frame_ms"):
        assert all(_number(report[field][k]) for k in ("p50", "p95", "max")), field
        assert 0 < report[field]["p50"] <= report[field]["p95"] <= report[field]["max"]
    assert report["next_first_frame_ms"] is None
    assert _number(report["fps"]["p50"]) and _number(report["fps"]["min"])
    assert report["fps"]["min"] > 20  # the clip runs at 30 fps
    server = report["server"]
    for field in ("cpu_cores", "cpu_cores_per_call", "rss_mb", "rss_mb_per_call"):
        assert _number(server[field]), field
    assert server["cpu_cores"] > 0 and server["rss_mb"] > 10
    assert server["forwarding"] == "packets"  # the default
    assert server["packet_path"]["path"] == "native"
    assert 4.5 <= report["duration_s"] <= 7
    assert report["args"]["calls"] == 2 and report["args"]["duration"] == 5
    assert report["duet"]["version"] and "commit" in report["duet"]
    assert report["frames"]["own"] == 0 and report["frames"]["wrong_partner"] == 0
    assert report["audio"]["packets_received"] > 4 * 40 * 5 * 0.9 / 2
    assert _number(report["load_generator"]["cpu_cores"])
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "media ok" in result.stdout and "p95" in result.stdout


def test_next_every_switches_partners_and_times_the_new_picture(
    duet: DuetServer, tmp_path: Path
) -> None:
    report_path = tmp_path / "next.json"
    result = _bench(
        "--url", duet.url, "--calls", "2", "--duration", "6", "--next-every", "2",
        "--video", "320x240@30", "--video-kbps", "300", "--json", str(report_path),
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    assert result.returncode == 0, report["failures"]
    assert report["nexts"] >= 2
    assert report["calls"]["media_ok"] == 2
    assert all(_number(report["next_first_frame_ms"][k]) for k in ("p50", "p95", "max"))
    assert report["frames"]["wrong_partner"] == 0


def test_a_node_dying_mid_run_fails_the_run_and_says_why(
    tmp_path: Path, loopback_only: None
) -> None:
    report_path = tmp_path / "died.json"
    with run_duet(tmp_path) as server:
        bench = subprocess.Popen(
            [
                sys.executable, "-m", "duet.cli", "bench", "calls", "--url", server.url,
                "--calls", "1", "--duration", "8", "--json", str(report_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "match started" not in server.log():
                assert time.monotonic() < deadline and bench.poll() is None
                time.sleep(0.2)
            time.sleep(2)
        finally:
            server.process.kill()
        out, err = bench.communicate(timeout=120)
    assert bench.returncode == 1, out + err
    assert "server closed the WebSocket" in err
    report = json.loads(report_path.read_text())
    assert report["calls"]["media_ok"] == 0
    assert report["frames"]["lost"] > 0


def test_an_unreachable_server_fails_fast_and_clearly(tmp_path: Path) -> None:
    started = time.monotonic()
    port = free_port()
    result = _bench("--url", f"http://127.0.0.1:{port}", "--calls", "1", "--duration", "1")
    assert result.returncode != 0
    assert "cannot reach" in result.stderr and "connection refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_bad_arguments_are_refused_before_anything_starts() -> None:
    result = _bench("--url", "ftp://nowhere", "--calls", "0", "--duration", "1", timeout=60)
    assert result.returncode == 2
    assert "--calls must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_offenders_are_banned_and_their_exposure_is_reported(
    tmp_path: Path, loopback_only: None
) -> None:
    """One offender (a tinted clip the bench classifier flags) against a moderated node:
    banned, with its time from match to ban and the frames its partner decoded."""
    env = {
        "DUET_MODERATION__ENABLED": "true",
        "DUET_MODERATION__CLASSIFIER": "benchmarks.offenders:tint_classifier",
        "DUET_LIMITS__EXEMPT_NETWORKS": '["127.0.0.0/8"]',
    }
    report_path = tmp_path / "offenders.json"
    with run_duet(tmp_path, env) as server:
        result = _bench(
            "--url", server.url, "--calls", "1", "--offenders", "1", "--duration", "4",
            "--ramp", "2", "--video", "160x120@15", "--video-kbps", "150",
            "--json", str(report_path),
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    exposure = json.loads(report_path.read_text())["exposure"]
    assert exposure["offenders"] == exposure["sanctioned"] == 1
    (offender,) = exposure["per_offender"]
    assert offender["offender"] == 0 and offender["sanction"] == "banned"
    assert 0 < offender["ms_to_sanction"] < 30_000
    assert set(offender["frames_to_partners"]) == {"1"}  # only its clean partner counts
    # The pre-screen (on by default) held the explicit video: its partner saw none of it.
    assert offender["frames_to_partners"]["1"] == offender["frames_total"] == 0
    assert "offenders (explicit): 1 of 1 banned or held" in result.stdout
