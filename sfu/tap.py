"""The frame tap: one decoded, downscaled picture of a visitor's own inbound video.

Moderation asks for a frame of visitor X; the tap takes it from X's own inbound feed (never
from what X is sent), so a partner's client cannot make the server judge a forged picture.
The result is a BGR ``numpy`` array no larger than ``max_side`` pixels on its longest side.

Passthrough never decodes the forwarded stream, so the tap asks X for a keyframe (PLI) and
decodes only that frame, in a worker thread. If no keyframe comes within the timeout (a
source that ignores PLIs), it falls back to a short-lived decoder over the frames since the
last keyframe, which the feed keeps for this purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import av
import cv2
import numpy as np

from sfu.forwarding import Feed
from sfu.frames import BgrFrame
from sfu.passthrough import EncodedFeed, EncodedFrame


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


def decode_vp8(frames: Sequence[EncodedFrame], max_side: int) -> BgrFrame | None:
    """Decode ``frames`` (a keyframe first) with a fresh decoder; the last picture, as BGR.

    Blocking: run it in a worker thread."""
    decoder = av.CodecContext.create("libvpx", "r")
    picture = None
    for item in frames:
        try:
            decoded = decoder.decode(av.Packet(item.data))
        except av.FFmpegError:
            continue
        if decoded:
            picture = decoded[-1]
    return None if picture is None else to_bgr(picture, max_side)


async def grab_encoded(feed: EncodedFeed, timeout: float, max_side: int) -> BgrFrame | None:
    """Request a keyframe of ``feed`` and decode only it; fall back to the frames since the
    previous keyframe if none comes within ``timeout`` seconds."""
    keyframe = await feed.next_keyframe(timeout)
    frames: list[EncodedFrame] = [keyframe] if keyframe is not None else list(feed.gop)
    if not frames:
        return None
    return await asyncio.to_thread(decode_vp8, frames, max_side)


async def grab_keyframe(
    feed: EncodedFeed, timeout: float, max_side: int
) -> tuple[BgrFrame, int] | None:
    """Request a keyframe of ``feed`` and decode it: the picture and the keyframe's source
    timestamp, which names the frame for :meth:`sfu.passthrough.EncodedTrack.release`.
    Without a new keyframe within ``timeout``, the last one the feed kept (if any)."""
    keyframe = await feed.next_keyframe(timeout)
    if keyframe is None:
        keyframe = feed.gop[0] if feed.gop else None
    if keyframe is None:
        return None
    picture = await asyncio.to_thread(decode_vp8, [keyframe], max_side)
    return None if picture is None else (picture, keyframe.timestamp)


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


async def grab(feed: Feed, timeout: float, max_side: int) -> BgrFrame | None:
    """One picture of ``feed`` whichever forwarding strategy produced it."""
    if isinstance(feed, EncodedFeed):
        return await grab_encoded(feed, timeout, max_side)
    return await grab_decoded(feed, timeout, max_side)
