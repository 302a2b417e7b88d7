"""The real default classifier (NudeNet 320n + the age model) on real photographs from
scikit-image, in process and in a worker process."""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data

from moderation.classifiers import NudeNetAgeClassifier
from moderation.service import classifier_config
from moderation.settings import DEFAULT_CLASSIFIER, ModerationSettings
from moderation.workers import WorkerPool


def bgr(rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@functools.cache
def nudenet_detector() -> Any:
    """NudeNet's own detector, through its public API (the reference)."""
    import nudenet

    return nudenet.NudeDetector()


@pytest.fixture(scope="module")
def classifier() -> NudeNetAgeClassifier:
    return NudeNetAgeClassifier(classifier_config(ModerationSettings()))


def test_astronaut_is_a_safe_adult_face(classifier: NudeNetAgeClassifier) -> None:
    verdict = classifier.classify(bgr(data.astronaut()))
    assert not verdict.unsafe and not verdict.minor
    assert verdict.faces == 1 and verdict.score == 0.0
    (face,) = [b for b in verdict.boxes if b.label.startswith("FACE_")]
    assert face.age is not None and face.age >= ModerationSettings().minor_age
    # The face is where the astronaut's head is (upper middle of the 512 x 512 photo).
    assert 120 < face.x + face.w / 2 < 300 and 60 < face.y + face.h / 2 < 220
    assert verdict.source == "nudenet-320n+age"


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_photos_without_people_have_no_face_and_are_safe(
    classifier: NudeNetAgeClassifier, name: str
) -> None:
    verdict = classifier.classify(bgr(getattr(data, name)()))
    assert (verdict.unsafe, verdict.minor, verdict.faces) == (False, False, 0)


def test_minor_bound_is_applied_to_apparent_age(classifier: NudeNetAgeClassifier) -> None:
    strict = NudeNetAgeClassifier(classifier_config(ModerationSettings(minor_age=40)))
    verdict = strict.classify(bgr(data.astronaut()))  # apparent age ~33: under 40
    assert verdict.minor and not verdict.unsafe and "apparent age" in verdict.reason


def test_onnx_session_runs_on_one_thread(classifier: NudeNetAgeClassifier) -> None:
    options = classifier.detector.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


async def test_default_classifier_in_a_worker_process() -> None:
    settings = ModerationSettings()
    pool = WorkerPool(DEFAULT_CLASSIFIER, classifier_config(settings), size=1, timeout=10)
    pool.start()
    try:
        assert await pool.wait_ready(60)
        astronaut = await pool.classify(bgr(data.astronaut()))
        coffee = await pool.classify(bgr(data.coffee()))
        assert astronaut.faces == 1 and not astronaut.minor and not astronaut.unsafe
        assert coffee.faces == 0 and not coffee.unsafe
    finally:
        await pool.close()


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "camera"])
def test_vectorised_detection_matches_nudenet(classifier: NudeNetAgeClassifier, name: str) -> None:
    image = np.asarray(getattr(data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    frame = bgr(image)
    ours = classifier.detect(frame)
    theirs = nudenet_detector().detect(frame)
    key = lambda d: (d["class"], d["box"])  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key)


def test_offline_toxicity_model_tells_insults_from_greetings() -> None:
    from moderation.text import ProfanityCheckModel

    model = ProfanityCheckModel()
    insult, greeting = model.probabilities(["you are a fucking idiot", "have a nice day"])
    assert insult >= ModerationSettings().text.toxicity_threshold > greeting
