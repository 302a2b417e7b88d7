"""The frame tap returns a picture of the visitor's own stream, never the partner's."""

from __future__ import annotations

import asyncio

import numpy as np

from benchmarks.tracks import HEIGHT, WIDTH, ColorTrack
from sfu import Router, SfuSettings
from tests.support.inproc import connect_caller

RED, GREEN = (210, 40, 40), (40, 200, 60)


async def test_tap_returns_the_visitors_own_picture(loopback_only: None) -> None:
    router = Router(SfuSettings(host_addresses=["127.0.0.1"]))
    await router.start()
    try:
        a = await connect_caller(router, "a", RED)
        b = await connect_caller(router, "b", GREEN)
        router.link("a", "b")
        frame_a = await router.tap("a", timeout=5)
        frame_b = await router.tap("b", timeout=5)
        assert frame_a is not None and frame_b is not None
        assert frame_a.shape == (HEIGHT, WIDTH, 3)
        # BGR order: red visitor's frame has a high last channel.
        mean_a = frame_a.reshape(-1, 3).mean(axis=0)[::-1]
        mean_b = frame_b.reshape(-1, 3).mean(axis=0)[::-1]
        assert np.abs(mean_a - RED).max() < 40
        assert np.abs(mean_b - GREEN).max() < 40
        assert await router.tap("nobody", timeout=0.5) is None
        for pc in (a, b):
            await pc.close()
    finally:
        await router.close()


async def test_tap_times_out_without_video(loopback_only: None) -> None:
    router = Router(SfuSettings(host_addresses=["127.0.0.1"]))
    await router.start()
    try:
        peer = router.create_peer("silent")
        await peer.offer()
        started = asyncio.get_running_loop().time()
        assert await router.tap("silent", timeout=0.3) is None
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        await router.close()


def test_colour_track_is_what_the_tests_assume() -> None:
    assert ColorTrack(RED).rgb == RED
