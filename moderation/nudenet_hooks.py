"""Every touch of NudeNet's internals, in one place (3 hooks, one comment each).

NudeNet 3.4's public API is ``NudeDetector(model_path, providers, inference_resolution)``
and its ``detect(image)``. Duet needs more, for speed in worker processes:

* Hook 1 -- the model file. ``NudeDetector`` builds its ONNX session with default
  (all-core) threading and takes no session options; parallelism comes from worker
  processes, so :class:`Detector` builds its own one-thread session on the same file:
  ``320n.onnx`` shipped inside the ``nudenet`` package, next to its ``__init__.py``.
* Hook 2 -- the class labels: the model outputs class indices in the order of the
  module-private list ``nudenet.nudenet.__labels``.
* Hook 3 -- ``NudeDetector.detect``'s pre- and post-processing (the private
  ``_read_image`` and ``_postprocess``), re-done vectorised in :meth:`Detector.detect`
  (~5 ms saved per frame): the same padding, input blob, score filter
  (:data:`SCORE_MIN`), box maths and non-maximum suppression (:data:`NMS_SCORE`,
  :data:`NMS_IOU`).

``tests/unit/test_nudenet_hooks.py`` is the tripwire: after a NudeNet upgrade it fails,
naming the hook, if any of these moved. Then re-read that part of NudeNet, adapt the hook,
and re-run ``tests/integration/test_moderation_models.py`` (detections equal to NudeNet's
own on real photographs).

Heavy imports (``nudenet``, ``onnxruntime``) happen when a :class:`Detector` is built,
i.e. inside a worker process only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

NUDENET_VERSION = "3.4."
"""The NudeNet release these hooks were written for (the tripwire checks it)."""
MODEL_FILE = "320n.onnx"
INPUT_SIDE = 320
"""NudeNet 320n's square input."""
SCORE_MIN = 0.2
"""Rows whose best class score is below this are dropped before NMS (NudeNet's value)."""
NMS_SCORE, NMS_IOU = 0.25, 0.45
"""NudeNet's ``cv2.dnn.NMSBoxes`` score threshold and overlap bound."""


def model_path() -> Path:
    """Hook 1: the ONNX model NudeNet ships and ``NudeDetector()`` loads by default."""
    import nudenet

    return Path(nudenet.__file__).with_name(MODEL_FILE)


def labels() -> tuple[str, ...]:
    """Hook 2: the class names, in the model's output order."""
    import nudenet.nudenet

    found = getattr(nudenet.nudenet, "__labels", None)
    if not isinstance(found, list) or not all(isinstance(x, str) for x in found):
        raise RuntimeError("nudenet.nudenet.__labels is gone: see moderation/nudenet_hooks.py")
    return tuple(found)


class Detector:
    """NudeNet 320n on one ONNX thread; ``detect`` returns what ``NudeDetector.detect``
    returns (``[{"class", "score", "box": [x, y, w, h]}]``) for a BGR uint8 frame.

    Assumes one call at a time (one detector per worker process)."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.labels = labels()
        self.input_name: str = self.session.get_inputs()[0].name

    def detect(self, frame_bgr: np.ndarray[Any, np.dtype[np.uint8]]) -> list[dict[str, Any]]:
        """Hook 3: ``NudeDetector.detect``, vectorised.

        NudeNet swaps the channels of a 3-channel frame (``COLOR_RGBA2BGR``) and then
        again in ``blobFromImage(swapRB=True)``: its model sees the frame in BGR order,
        and so does ours (no swap at all)."""
        height, width = frame_bgr.shape[:2]
        side = max(height, width)
        padded = cv2.copyMakeBorder(
            frame_bgr, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT
        )
        size = INPUT_SIDE
        blob = cv2.dnn.blobFromImage(padded, 1 / 255.0, (size, size), (0, 0, 0), False, False)
        output = self.session.run(None, {self.input_name: blob})
        rows = np.squeeze(output[0]).T
        class_scores = rows[:, 4:]
        best = class_scores.max(axis=1)
        keep = best >= SCORE_MIN
        rows, best = rows[keep], best[keep]
        classes = class_scores[keep].argmax(axis=1)
        scale = side / size
        w, h = rows[:, 2] * scale, rows[:, 3] * scale
        x = np.clip((rows[:, 0] - rows[:, 2] / 2) * scale, 0, width)
        y = np.clip((rows[:, 1] - rows[:, 3] / 2) * scale, 0, height)
        w, h = np.minimum(w, width - x), np.minimum(h, height - y)
        boxes = np.stack([x, y, w, h], axis=1).tolist()
        indices = cv2.dnn.NMSBoxes(boxes, best.tolist(), NMS_SCORE, NMS_IOU)
        return [
            {
                "class": self.labels[int(classes[i])],
                "score": float(best[i]),
                "box": [int(v) for v in boxes[i]],
            }
            for i in np.asarray(indices, dtype=int).reshape(-1)
        ]
