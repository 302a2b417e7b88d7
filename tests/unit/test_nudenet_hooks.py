"""Fails loudly if a NudeNet upgrade moves an internal that moderation.nudenet_hooks uses.

Each check names the hook (see the docstring of ``moderation/nudenet_hooks.py``). If one
fails after an upgrade, re-read that part of NudeNet, adapt the hook, and re-run
``tests/integration/test_moderation_models.py``.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import cv2
import nudenet
import nudenet.nudenet
import numpy as np
from skimage import data

from moderation import nudenet_hooks
from moderation.nudenet_hooks import Detector
from moderation.settings import ModerationSettings


def test_pinned_version() -> None:
    assert version("nudenet").startswith(nudenet_hooks.NUDENET_VERSION), (
        f"moderation/nudenet_hooks.py was written for NudeNet {nudenet_hooks.NUDENET_VERSION}x"
    )


def test_hook1_the_model_file_is_the_one_nudenet_loads() -> None:
    path = nudenet_hooks.model_path()
    assert path.is_file() and path.stat().st_size > 1_000_000, f"Hook 1: no model at {path}"
    init = inspect.getsource(nudenet.NudeDetector.__init__)
    assert f'os.path.join(os.path.dirname(__file__), "{path.name}")' in init, (
        "Hook 1: NudeDetector no longer loads the model next to its module by default"
    )
    assert Path(nudenet.nudenet.__file__).parent == path.parent


def test_hook2_labels_are_the_models_output_order() -> None:
    labels = nudenet_hooks.labels()
    assert len(labels) == 18 and len(set(labels)) == 18, "Hook 2: nudenet's labels changed"
    assert {"FACE_FEMALE", "FACE_MALE"} <= set(labels), "Hook 2: face classes renamed"
    # Every class a setting can make unsafe is one the model reports.
    assert set(ModerationSettings().unsafe_thresholds.by_class()) <= set(labels)
    assert '"class": __labels[class_id]' in inspect.getsource(nudenet.nudenet._postprocess)


def test_hook3_pre_and_post_processing_are_still_what_detect_copies() -> None:
    read = inspect.getsource(nudenet.nudenet._read_image)
    post = inspect.getsource(nudenet.nudenet._postprocess)
    detect = inspect.getsource(nudenet.NudeDetector.detect)
    assert "_read_image(image_path, self.input_width)" in detect
    assert "_postprocess(" in detect
    # Two channel swaps that cancel out (the model sees BGR), padding right and bottom.
    assert "cv2.cvtColor(mat, cv2.COLOR_RGBA2BGR)" in read
    assert "swapRB=True" in read and "crop=False" in read and "1 / 255.0" in read
    assert "cv2.copyMakeBorder(mat_c3, 0, y_pad, 0, x_pad, cv2.BORDER_CONSTANT)" in read
    assert f"max_score >= {nudenet_hooks.SCORE_MIN}" in post
    nms = f"cv2.dnn.NMSBoxes(boxes, scores, {nudenet_hooks.NMS_SCORE}, {nudenet_hooks.NMS_IOU})"
    assert nms in post
    assert "inference_resolution=320" in inspect.getsource(nudenet.NudeDetector.__init__)
    assert nudenet_hooks.INPUT_SIDE == 320


def test_hook3_detections_equal_nudenet_and_run_on_one_thread() -> None:
    detector = Detector()
    options = detector.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    frame = np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    ours = detector.detect(frame)
    theirs = nudenet.NudeDetector().detect(frame)
    assert [d["class"] for d in ours] == ["FACE_FEMALE"]  # the astronaut's face
    assert sorted(ours, key=str) == sorted(theirs, key=str)
