"""Face presence, for the face gate (``moderation.require_face``) and its metrics.

Two detectors that ship with the installed packages are cross-checked: the face boxes the
classifier already returns (NudeNet's ``FACE_*``, counted in ``Verdict.faces``) and dlib's
HOG frontal-face detector (dlib comes with the age model; it needs no model file). A face
is present when either sees one: NudeNet finds turned and partly hidden faces that HOG
misses, HOG finds small frontal faces NudeNet's 320-pixel input loses. OpenCV 5 dropped
its Haar cascades, so it is not one of them.

Assumes frames are BGR ``uint8`` pictures no larger than ``moderation.frame_max_side``.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from moderation.frames import BgrFrame
from moderation.verdict import Verdict

UPSAMPLE_BELOW = 360
"""Pictures whose shorter side is under this are upsampled once (HOG's smallest face is
80 pixels); larger ones are not (about 20 ms for 320x320 on one core)."""

_local = threading.local()


def _detector() -> Any:
    detector = getattr(_local, "detector", None)
    if detector is None:
        import dlib  # heavy: imported on first use, one detector per thread

        detector = _local.detector = dlib.get_frontal_face_detector()
    return detector


def hog_faces(frame: BgrFrame) -> int:
    """How many frontal faces dlib's HOG detector finds in ``frame`` (blocking: run it in
    a worker thread)."""
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    upsample = 1 if min(rgb.shape[:2]) < UPSAMPLE_BELOW else 0
    return len(_detector()(rgb, upsample))


def face_present(verdict: Verdict, frame: BgrFrame) -> bool:
    """Whether the classifier's face boxes or the HOG detector see a face (blocking)."""
    return verdict.faces > 0 or hog_faces(frame) > 0
