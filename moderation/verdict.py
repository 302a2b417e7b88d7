"""The vocabulary of a check's outcome: :class:`Verdict` and its :class:`Box` es.

Verdicts cross process boundaries (worker -> pool) by pickling, so they are plain frozen
dataclasses of builtins. :func:`coerce_verdict` accepts what a plugged-in classifier
returns (a ``Verdict`` or a mapping with the same keys) and checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from moderation.errors import ModerationError


@dataclass(frozen=True)
class Box:
    """One detection in frame pixels (left, top, width, height)."""

    label: str
    """Detector class, e.g. ``FEMALE_BREAST_EXPOSED`` or ``FACE_MALE``."""
    score: float
    x: int
    y: int
    w: int
    h: int
    age: int | None = None
    """Apparent age, for face boxes when an age model ran."""


@dataclass(frozen=True)
class Verdict:
    """What a classifier says about one frame."""

    unsafe: bool
    """Explicit content above a per-class threshold."""
    minor: bool
    """A face looks younger than the configured bound (possible minor)."""
    score: float
    """Confidence of ``unsafe`` in [0, 1] (the highest exposed-class score)."""
    reason: str
    """Short human-readable reason, for logs and reviewers."""
    source: str
    """Which classifier said so, e.g. ``nudenet-320n+age``."""
    boxes: tuple[Box, ...] = field(default=())
    faces: int = 0
    """How many faces were found (face-presence signal)."""

    @property
    def outcome(self) -> str:
        """``safe``, ``unsafe``, ``minor`` or ``unsafe_minor`` (for counters)."""
        if self.unsafe and self.minor:
            return "unsafe_minor"
        if self.unsafe:
            return "unsafe"
        return "minor" if self.minor else "safe"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BadVerdict(ModerationError, ValueError):
    """A classifier returned something that is not a verdict."""

    code = "bad_verdict"


def coerce_verdict(value: object, source: str = "custom") -> Verdict:
    """A :class:`Verdict` from a classifier's return value (a Verdict or a mapping)."""
    if isinstance(value, Verdict):
        return value
    if not isinstance(value, Mapping):
        raise BadVerdict(f"classify() returned {type(value).__name__}, not a verdict")
    try:
        boxes = tuple(b if isinstance(b, Box) else Box(**b) for b in value.get("boxes", ()))
        score = float(value.get("score", 0.0))
        if not 0.0 <= score <= 1.0:
            raise BadVerdict(f"score {score} is not in [0, 1]")
        return Verdict(
            unsafe=bool(value["unsafe"]),
            minor=bool(value.get("minor", False)),
            score=score,
            reason=str(value.get("reason", "")),
            source=str(value.get("source", source)),
            boxes=boxes,
            faces=int(value.get("faces", 0)),
        )
    except (KeyError, TypeError) as exc:
        raise BadVerdict(f"malformed verdict: {exc}") from None
