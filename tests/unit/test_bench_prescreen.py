"""``duet bench calls --prescreen-compare``: its options and its offender classifier."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.prescreen import OFFENDER_RGB, SAFE_RGB, by_colour
from duet.cli import build_parser
from moderation.classifiers import ClassifierConfig


def test_prescreen_compare_needs_no_url() -> None:
    args = build_parser().parse_args(
        ["bench", "calls", "--prescreen-compare", "--calls", "2", "--duration", "5"]
    )
    assert args.prescreen_compare and args.url is None and args.offenders is None  # 3 by default


def test_calls_without_url_or_compare_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["bench", "calls", "--calls", "2", "--duration", "5"])
    assert args.func(args) == 2
    assert "--url is required" in capsys.readouterr().err


def test_offender_colour_is_explicit_and_the_others_safe() -> None:
    classifier = by_colour(ClassifierConfig({}, 23, 0.35))

    def bgr(rgb: tuple[int, int, int]) -> np.ndarray:  # type: ignore[type-arg]
        picture = np.empty((48, 64, 3), dtype=np.uint8)
        picture[:, :] = rgb[::-1]
        return picture

    assert classifier.classify(bgr(OFFENDER_RGB)).unsafe
    assert classifier.classify(bgr(OFFENDER_RGB)).score >= 0.85  # bans on one frame
    for rgb in SAFE_RGB:
        assert not classifier.classify(bgr(rgb)).unsafe
