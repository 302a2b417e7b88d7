"""``duet bench calls --offenders K``: how long an offender's video reaches anyone.

K of the callers send a clip with a strong colour tint that :class:`TintClassifier` (the
node's classifier for this run: ``DUET_MODERATION__CLASSIFIER=
benchmarks.offenders:tint_classifier``) flags: red-tinted frames are explicit, blue-tinted
ones explicit *and* a possible minor. Every other caller's clip is grey (untinted) and
judged safe. The report gives, per offender, its **exposure**:

* ``ms_to_sanction``: from the offender's ``matched`` to its ``banned`` (``held`` for
  ``--offender-kind minor``), both timed by the offender's own caller (end to end: SFU tap,
  worker, policy, evidence, database, WebSocket);
* ``frames_to_partners``: frames of the offender (read from the mark in each frame) that
  each of its clean partners decoded (two offenders matched together are not counted as
  each other's victims).

Assumes every caller runs on this machine (one ``time.monotonic`` clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from benchmarks.caller import CallerRecord
from benchmarks.stats import Summary
from moderation.classifiers import ClassifierConfig
from moderation.verdict import Verdict

OffenderKind = Literal["explicit", "minor"]

TINTS: dict[OffenderKind, tuple[int, int]] = {"explicit": (90, 210), "minor": (210, 90)}
"""(U, V) chroma of each kind of offender's clip (everyone else: 128, 128)."""
FLAG_DIFFERENCE = 50.0
"""Mean R - B (explicit) or B - R (minor) from which :class:`TintClassifier` flags."""


class TintClassifier:
    """Judges a frame by its mean colour cast: red -> explicit (score 0.97), blue ->
    explicit and a possible minor. For benchmarks only."""

    def __init__(self, config: ClassifierConfig) -> None:
        self.config = config

    def classify(self, frame_bgr: np.ndarray[Any, Any]) -> Verdict:
        blue, _, red = (float(v) for v in frame_bgr.reshape(-1, 3).mean(axis=0))
        explicit = red - blue >= FLAG_DIFFERENCE
        minor = blue - red >= FLAG_DIFFERENCE
        unsafe = explicit or minor
        return Verdict(
            unsafe=unsafe,
            minor=minor,
            score=0.97 if unsafe else 0.0,
            reason=f"bench tint (R-B {red - blue:.0f})",
            source="bench-tint",
            faces=1 if minor else 0,
        )


def tint_classifier(config: ClassifierConfig) -> TintClassifier:
    return TintClassifier(config)


def offender_indices(callers: int, offenders: int) -> list[int]:
    """Every other caller from the first (0, 2, 4, ...): callers join in index order, so
    an offender is usually matched with the clean caller that joins right after it."""
    return list(range(0, 2 * offenders, 2))[: max(0, offenders)]


def exposure(records: Sequence[CallerRecord], offenders: Sequence[int]) -> dict[str, Any]:
    """Per offender: ms from its first match to its ban or hold, and the frames of it that
    each partner decoded; with p50/p95/max over offenders."""
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    frames_total: list[float] = []
    by_index = {r.index: r for r in records}
    for index in offenders:
        record = by_index.get(index)
        if record is None:
            continue
        matched = record.matches[0].matched_at if record.matches else None
        ms = None
        if matched is not None and record.sanction_at is not None:
            ms = round((record.sanction_at - matched) * 1000, 1)
        # Every clean caller matched with the offender (same match id), or who decoded a
        # frame of it: a partner who saw none (the pre-screen held the video) counts as 0.
        its_matches = {m.match for m in record.matches}
        frames = {
            str(other.index): int(sum(1 for mark in other.frame_marks if mark == index))
            for other in records
            if other.index not in offenders
            and (index in other.frame_marks or its_matches & {m.match for m in other.matches})
        }
        if ms is not None:
            times.append(ms)
        frames_total.append(float(sum(frames.values())))
        rows.append(
            {
                "offender": index,
                "sanction": record.sanction,
                "ms_to_sanction": ms,
                "frames_to_partners": frames,
                "frames_total": sum(frames.values()),
            }
        )
    return {
        "offenders": len(offenders),
        "sanctioned": len(times),
        "ms_to_sanction": Summary.of(times).pick("count", "min", "p50", "p95", "max"),
        "frames_to_partners": Summary.of(frames_total).pick("p50", "p95", "max"),
        "per_offender": rows,
    }
