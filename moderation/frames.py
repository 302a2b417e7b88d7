"""The picture moderation works on: one decoded video frame, BGR, 8 bits per channel.

The single definition of :data:`BgrFrame` in ``moderation`` (the SFU has its own; the
composition root hands one to the other, both are plain numpy arrays). Assumed shape:
``(height, width, 3)``, C-contiguous or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BgrFrame = np.ndarray[Any, np.dtype[np.uint8]]
