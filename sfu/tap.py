"""The frame tap: one decoded, downscaled picture of a visitor's own inbound video.

Moderation asks for a frame of visitor X; the tap takes it from X's own inbound feed (never
from what X is sent), so a partner's client cannot make the server judge a forged picture.
The result is a BGR ``numpy`` array no larger than ``max_side`` pixels on its longest side.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import cv2
import numpy as np

from sfu.forwarding import Feed

BgrFrame = np.ndarray[Any, np.dtype[np.uint8]]


def to_bgr(frame: Any, max_side: int) -> BgrFrame:
    """Convert a decoded ``av.VideoFrame`` to BGR, downscaled to at most ``max_side``."""
    image: BgrFrame = frame.to_ndarray(format="bgr24")
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return image


async def grab_decoded(feed: Feed, timeout: float, max_side: int) -> BgrFrame | None:
    """The next decoded frame of ``feed`` (transcode forwarding), or ``None`` on timeout."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[Any] = loop.create_future()

    def sink(frame: Any) -> None:
        if not got.done():
            got.set_result(frame)

    feed.subscribe(sink)
    try:
        frame = await asyncio.wait_for(got, timeout)
    except TimeoutError:
        return None
    finally:
        feed.unsubscribe(sink)
        with contextlib.suppress(asyncio.InvalidStateError):
            got.cancel()
    return await asyncio.to_thread(to_bgr, frame, max_side)
