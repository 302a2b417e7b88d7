"""The comparison logic of `duet bench sfu`."""

from __future__ import annotations

import pytest

from benchmarks.sfu import MODES, capacity, compare, parse_counts, parse_modes, step_holds


def _mode(cores: float | None, fps_min: float | None) -> dict[str, object]:
    return {"cpu_cores_per_call": cores, "fps": {"p50": fps_min, "min": fps_min}}


def test_ratio_and_goals() -> None:
    result = compare({"passthrough": _mode(0.025, 30), "transcode": _mode(0.4, 29.5)})
    assert result["transcode_over_passthrough_cores"] == 16.0
    assert result["goals"] == {
        "packets_at_most_0_012_cores_per_call_above_idle": None,
        "packets_fps_at_least_29": None,
        "packets_lip_sync_p95_at_most_80_ms": None,
        "ratio_at_least_10x": True,
        "equal_fps_at_least_29": True,
        "passthrough_at_most_0_03_cores_per_call": True,
    }


def test_goals_missed_are_reported_as_missed() -> None:
    result = compare({"passthrough": _mode(0.07, 30), "transcode": _mode(0.42, 22)})
    assert result["transcode_over_passthrough_cores"] == 6.0
    assert result["goals"] == {
        "packets_at_most_0_012_cores_per_call_above_idle": None,
        "packets_fps_at_least_29": None,
        "packets_lip_sync_p95_at_most_80_ms": None,
        "ratio_at_least_10x": False,
        "equal_fps_at_least_29": False,
        "passthrough_at_most_0_03_cores_per_call": False,
    }


def test_missing_measurements_are_unknown_not_met() -> None:
    result = compare({"passthrough": _mode(None, None)})
    assert result["transcode_over_passthrough_cores"] is None
    assert set(result["goals"].values()) == {None}


def test_ratio_compares_cost_above_idle_when_measured() -> None:
    passthrough = {**_mode(0.06, 30), "cpu_cores_per_call_net": 0.03}
    transcode = {**_mode(0.42, 30), "cpu_cores_per_call_net": 0.39}
    result = compare({"passthrough": passthrough, "transcode": transcode})
    assert result["transcode_over_passthrough_cores"] == 13.0
    assert result["transcode_over_passthrough_cores_raw"] == 7.0
    assert result["goals"]["ratio_at_least_10x"] is True


def test_packets_against_passthrough_above_idle() -> None:
    packets = {**_mode(0.02, 30), "cpu_cores_per_call_net": 0.01}
    passthrough = {**_mode(0.04, 30), "cpu_cores_per_call_net": 0.03}
    result = compare({"packets": packets, "passthrough": passthrough})
    assert result["passthrough_over_packets_cores"] == 3.0
    assert result["passthrough_over_packets_cores_raw"] == 2.0
    assert result["goals"]["packets_at_most_0_012_cores_per_call_above_idle"] is True
    assert result["goals"]["packets_fps_at_least_29"] is True
    assert result["transcode_over_passthrough_cores"] is None  # transcode not measured
    slow = {**_mode(0.05, 20), "cpu_cores_per_call_net": 0.02}
    goals = compare({"packets": slow})["goals"]
    assert goals["packets_at_most_0_012_cores_per_call_above_idle"] is False
    assert goals["packets_fps_at_least_29"] is False


def test_packets_lip_sync_goal_is_the_p95_of_the_offsets() -> None:
    def with_sync(p95: float) -> dict[str, object]:
        return {**_mode(0.02, 30), "lip_sync": {"abs_offset_ms": {"p50": 5.0, "p95": p95}}}

    assert compare({"packets": with_sync(80.0)})["goals"]["packets_lip_sync_p95_at_most_80_ms"]
    missed = compare({"packets": with_sync(80.5)})["goals"]
    assert missed["packets_lip_sync_p95_at_most_80_ms"] is False


def test_modes_are_parsed_and_checked() -> None:
    assert parse_modes("packets, passthrough") == ("packets", "passthrough")
    assert parse_modes(",".join(MODES)) == MODES
    for bad in ("", "packets,teleport", "packets,packets"):
        with pytest.raises(ValueError, match="--modes"):
            parse_modes(bad)


def _summary(ok: int, fps_min: float, loss: float) -> dict[str, object]:
    return {"calls_media_ok": ok, "fps": {"min": fps_min}, "loss_ratio": loss}


def test_a_capacity_step_holds_only_with_every_call_fast_and_whole() -> None:
    assert step_holds(_summary(4, 29.5, 0.004), 4)
    assert not step_holds(_summary(3, 29.5, 0.004), 4)  # a call not media ok
    assert not step_holds(_summary(4, 28.9, 0.0), 4)  # one caller below 29 fps
    assert not step_holds(_summary(4, 30.0, 0.011), 4)  # more than 1 % lost
    assert not step_holds({"calls_media_ok": 4, "fps": {}, "loss_ratio": None}, 4)


def test_capacity_is_the_last_step_that_held() -> None:
    steps = [
        {"calls": 4, "holds": True, "cpu_cores": 0.2},
        {"calls": 8, "holds": True, "cpu_cores": 0.4},
        {"calls": 12, "holds": False, "cpu_cores": 0.7},
    ]
    result = capacity(steps)
    assert result["held_calls"] == 8 and result["calls_per_core"] == 20.0
    assert result["limited_by_ramp"] is False
    assert capacity(steps[:2])["limited_by_ramp"] is True  # the ramp ended first
    assert capacity(steps[2:])["held_calls"] == 0


def test_capacity_ratio_of_packets_over_passthrough() -> None:
    packets = {**_mode(0.02, 30), "capacity": {"calls_per_core": 40.0}}
    passthrough = {**_mode(0.04, 30), "capacity": {"calls_per_core": 25.0}}
    result = compare({"packets": packets, "passthrough": passthrough})
    assert result["packets_over_passthrough_capacity"] == 1.6
    assert compare({"packets": packets})["packets_over_passthrough_capacity"] is None


def test_capacity_counts_are_parsed_and_checked() -> None:
    assert parse_counts("4,8, 12") == (4, 8, 12)
    for bad in ("", "8,4", "4,4", "0,4", "four"):
        with pytest.raises(ValueError, match="--capacity"):
            parse_counts(bad)


def test_the_c_path_is_compared_with_the_python_fast_path() -> None:
    results = {
        "packets": {"cpu_cores_per_call": 0.031, "cpu_cores_per_call_net": 0.030},
        "packets-python": {"cpu_cores_per_call": 0.054, "cpu_cores_per_call_net": 0.051},
    }
    report = compare(results)
    assert report["python_over_native_cores"] == 1.7
    assert report["python_over_native_cores_raw"] == 1.7
    assert compare({"packets": results["packets"]})["python_over_native_cores"] is None
