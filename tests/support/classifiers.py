"""A test classifier for whole-pipeline tests: judges a frame by its mean colour.

Plugged in with ``DUET_MODERATION__CLASSIFIER=tests.support.classifiers:by_colour``; the
server runs from the repository root, so its spawned workers import this module too.
Configured through the environment (inherited by the workers):

* ``DUETTEST_UNSAFE_RGB``: ``"r,g,b;r,g,b"`` colours judged unsafe (score
  ``DUETTEST_SCORE``, default 0.97);
* ``DUETTEST_MINOR_RGB``: colours judged unsafe *and* showing a possible minor;
* ``DUETTEST_DELAY_S``: seconds each check takes (to kill a worker mid-check);
* ``DUETTEST_BUSY_DIR``: a directory where each check touches ``<pid>.busy`` as it starts.

Test callers send solid colours; VP8 shifts them a little, hence the tolerance.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from moderation.classifiers import ClassifierConfig
from moderation.verdict import Box, Verdict

TOLERANCE = 40.0


def _colours(name: str) -> list[tuple[float, float, float]]:
    value = os.environ.get(name, "")
    return [tuple(float(c) for c in part.split(",")) for part in value.split(";") if part.strip()]  # type: ignore[misc]


class ColourClassifier:
    def __init__(self, config: ClassifierConfig) -> None:
        self.config = config
        self.unsafe = _colours("DUETTEST_UNSAFE_RGB")
        self.minor = _colours("DUETTEST_MINOR_RGB")
        self.score = float(os.environ.get("DUETTEST_SCORE", "0.97"))
        self.delay = float(os.environ.get("DUETTEST_DELAY_S", "0"))
        busy = os.environ.get("DUETTEST_BUSY_DIR")
        self.busy = Path(busy) if busy else None

    def classify(self, frame_bgr: np.ndarray[Any, Any]) -> Verdict:
        if self.busy is not None:
            (self.busy / f"{os.getpid()}.busy").touch()
        if self.delay:
            time.sleep(self.delay)
        mean_rgb = frame_bgr.reshape(-1, 3).mean(axis=0)[::-1]
        height, width = frame_bgr.shape[:2]

        def like(colours: list[tuple[float, float, float]]) -> bool:
            return any(float(np.abs(mean_rgb - np.array(c)).max()) < TOLERANCE for c in colours)

        minor = like(self.minor)
        unsafe = minor or like(self.unsafe)
        box = Box("TEST_EXPOSED", self.score, 0, 0, width, height)
        return Verdict(
            unsafe=unsafe,
            minor=minor,
            score=self.score if unsafe else 0.0,
            reason=f"mean colour {tuple(round(float(c)) for c in mean_rgb)}",
            source="test-colour",
            boxes=(box,) if unsafe else (),
            faces=1 if minor else 0,
        )


def by_colour(config: ClassifierConfig) -> ColourClassifier:
    return ColourClassifier(config)


class FaceAsUnsafe:
    """The REAL default classifier (NudeNet 320n + the age model), with one test-only
    twist: a face it finds counts as explicit content, at the face detection's own score.
    So a photograph of a face drives the whole ban path (or, with ``minor_age`` set above
    the face's apparent age, the hold path) through the real models, with no explicit
    material needed. Plugged in as ``tests.support.classifiers:face_as_unsafe``."""

    def __init__(self, config: ClassifierConfig) -> None:
        from moderation.classifiers import NudeNetAgeClassifier

        self.real = NudeNetAgeClassifier(config)

    def classify(self, frame_bgr: np.ndarray[Any, Any]) -> Verdict:
        verdict = self.real.classify(frame_bgr)
        faces = [b for b in verdict.boxes if b.label.startswith("FACE_") and b.age is not None]
        if not faces:
            return verdict
        return dataclasses.replace(
            verdict,
            unsafe=True,
            score=max(b.score for b in faces),
            reason="test: a face counts as unsafe; " + verdict.reason,
            source=verdict.source + "+test-face-as-unsafe",
        )


def face_as_unsafe(config: ClassifierConfig) -> FaceAsUnsafe:
    return FaceAsUnsafe(config)
