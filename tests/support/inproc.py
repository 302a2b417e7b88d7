"""Callers wired straight to an in-process SFU router (no WebSocket), for SFU tests."""

from __future__ import annotations

import asyncio
import time

from benchmarks.tracks import FPS
from sfu import Router
from tests.support.caller import CallerMedia


async def connect_caller(
    router: Router,
    visitor: str,
    rgb: tuple[int, int, int],
    timeout: float = 10.0,
    fps: int = FPS,
) -> CallerMedia:
    """Create ``visitor``'s peer on ``router`` and connect an aiortc caller to it (sending
    ``fps`` frames per second); returns once the SFU receives the caller's video."""
    peer = router.create_peer(visitor)
    media = CallerMedia(rgb, fps=fps)
    answer = await media.answer(await peer.offer())
    await peer.accept_answer(answer)
    deadline = time.monotonic() + timeout
    while peer.feeds["video"].frames == 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no video from {visitor} within {timeout} s")
        await asyncio.sleep(0.05)
    return media


async def pair_callers(
    router: Router,
    first: tuple[int, int, int] = (210, 40, 40),
    second: tuple[int, int, int] = (40, 200, 60),
) -> tuple[CallerMedia, CallerMedia]:
    """Callers ``a`` (showing ``first``) and ``b`` (``second``) linked by ``router``, once
    each sees a few frames of the other's picture."""
    a = await connect_caller(router, "a", first)
    b = await connect_caller(router, "b", second)
    router.link("a", "b")
    await a.wait_frames_like(second, count=5)
    await b.wait_frames_like(first, count=5)
    return a, b
