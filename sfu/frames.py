"""The picture the SFU hands out: one decoded video frame, BGR, 8 bits per channel.

The single definition of :data:`BgrFrame` in ``sfu`` (moderation has its own in
``moderation.frames``; the composition root hands one to the other, both are plain numpy
arrays). Assumed shape: ``(height, width, 3)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BgrFrame = np.ndarray[Any, np.dtype[np.uint8]]
