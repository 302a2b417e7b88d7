"""QA sampling and measured precision as pure logic: strata of automatic bans, the
sampler's rule, Wilson intervals and the per-stratum report."""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime

import pytest

from moderation.records import BanRecord, EvidenceRecord
from signaling.console.commands import days_type
from signaling.console.precision import build_report, wilson
from signaling.storage.qa import QaItem, StratumCount
from signaling.storage.qa_actions import AutomaticAction, Sampler, action_of_ban, word

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _ban(source: str, reason: str = "why") -> BanRecord:
    return BanRecord("b_1", "v_1", "192.0.2.1", None, None, reason, source, AT, AT, "e_1")


def _frame(verdict: dict[str, object]) -> EvidenceRecord:
    return EvidenceRecord(
        "e_1", "frame", "v_1", "m_1", AT, "p", "s", "b", "r", {"verdict": verdict}
    )


def test_wilson_matches_known_intervals() -> None:
    low, high = wilson(8, 10) or (0, 0)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    low, high = wilson(0, 5) or (1, 1)
    assert low == 0.0 and high == pytest.approx(0.4345, abs=1e-4)
    assert (wilson(20, 20) or (0, 0))[1] == 1.0
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_word_drops_numbers_and_punctuation() -> None:
    assert word("explicit content (score 0.93): X") == "explicit_content_score_x"
    assert word("reported by 3 people within 600 s") == "reported_by_people_within_s"
    assert word("  ") == "unspecified"
    assert len(word("a" * 200)) == 64


def test_strata_of_automatic_bans() -> None:
    verdict = {
        "source": "nudenet-320n+age",
        "score": 0.91,
        "reason": "FEMALE_BREAST_EXPOSED 0.91",
        "boxes": [
            {"label": "FACE_FEMALE", "score": 0.99},
            {"label": "BUTTOCKS_EXPOSED", "score": 0.7},
            {"label": "FEMALE_BREAST_EXPOSED", "score": 0.91},
        ],
    }
    video = action_of_ban(_ban("video"), _frame(verdict))
    assert video.stratum == ("ban", "video", "nudenet_320n_age", "female_breast_exposed")
    assert video.score == 0.91 and video.match == "m_1" and video.ref == "b_1"
    no_boxes = action_of_ban(_ban("video"), _frame({"source": "vlm", "reason": "nudity 0.9"}))
    assert no_boxes.stratum == ("ban", "video", "vlm", "nudity") and no_boxes.score is None
    text = EvidenceRecord("e_2", "text", "v_1", None, AT, "p", "s", None, "r")
    assert action_of_ban(_ban("text"), text).stratum == ("ban", "text", "chat_strikes", "strikes")
    assert action_of_ban(_ban("report"), text).stratum[2:] == ("verbal_reports", "reported")
    odd = action_of_ban(_ban("other", "Too many 42 things"), None)
    assert odd.stratum == ("ban", "other", "other", "too_many_things")


def test_sampler_always_takes_the_first_of_a_stratum_then_the_rate() -> None:
    never = Sampler(0.0, 3, 60.0, random.Random(1))
    assert [never.draw(n) for n in range(5)] == [True, True, True, False, False]
    always = Sampler(1.0, 0, 60.0, random.Random(1))
    assert all(always.draw(n) for n in range(100))
    some = Sampler(0.25, 0, 60.0, random.Random(7))
    share = sum(some.draw(10) for _ in range(4000)) / 4000
    assert 0.22 < share < 0.28
    with pytest.raises(ValueError):
        Sampler(1.5, 0, 60.0)


def _decided(stratum: tuple[str, str, str, str], status: str, score: float, via: str) -> QaItem:
    action = AutomaticAction(*stratum, ref="b", visitor="v", created_at=AT, score=score)
    return QaItem("q", action, True, status, via)


def test_report_per_stratum_with_appeals_and_wrong_scores() -> None:
    a = ("ban", "video", "nn", "breast")
    b = ("ban", "text", "chat_strikes", "strikes")
    decided = [
        *[_decided(a, "correct", 0.95, "qa") for _ in range(8)],
        _decided(a, "wrong", 0.86, "qa"),
        _decided(a, "wrong", 0.62, "appeal"),
        _decided(b, "correct", 0.0, "qa"),
    ]
    counts = [StratumCount(a, 200, 12), StratumCount(b, 30, 4)]
    report = build_report(AT, 30, counts, decided)
    text, video = report.strata  # sorted: text before video
    assert (video.actions, video.sampled, video.decided, video.correct) == (200, 12, 10, 8)
    assert video.precision == 0.8 and video.wrong_via_appeal == 1
    assert video.interval == wilson(8, 10)
    assert video.buckets() == [0, 0, 1, 1, 1, 2, 2, 2]  # 0.62 <= 0.7, 0.86 <= 0.9
    assert text.precision == 1.0 and text.wrong_scores == []
    total = report.total
    assert (total.actions, total.decided, total.correct, total.wrong) == (230, 11, 9, 2)
    data = report.as_dict()
    assert data["strata"][1]["wrong_scores"]["median"] == pytest.approx(0.74)
    assert data["total"]["interval"] == list(wilson(9, 11) or ())


def test_qa_report_days_must_be_a_sensible_window() -> None:
    assert days_type("7") == 7.0 and days_type("0.5") == 0.5
    for bad in ("0", "-1", "3651", "seven", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            days_type(bad)
