"""Pipes between SFU processes: two routers in one test process, each with its own pipe
socket, so a match spans them exactly as it spans worker processes or nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfu import Router, SfuSettings
from sfu.passthrough import EncodedFeed
from tests.support.caller import CallerMedia, DecodeErrors
from tests.support.inproc import connect_caller

RED, GREEN = (210, 40, 40), (40, 200, 60)


def _router(secret: bytes | tuple[bytes, ...] = b"cluster-secret", chunk: int = 1200) -> Router:
    return Router(SfuSettings(host_addresses=["127.0.0.1"], pipe_chunk_bytes=chunk), secret=secret)


@pytest.fixture
async def two_routers(loopback_only: None) -> AsyncIterator[tuple[Router, Router]]:
    one, two = _router(), _router()
    await one.start()
    await two.start()
    yield one, two
    await one.close()
    await two.close()


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def _cross_pair(one: Router, two: Router) -> tuple[CallerMedia, CallerMedia]:
    a = await connect_caller(one, "a", RED)
    b = await connect_caller(two, "b", GREEN)
    endpoint_a, endpoint_b = one.endpoint("a"), two.endpoint("b")
    assert endpoint_a and endpoint_b and endpoint_a != endpoint_b
    await one.connect("a", "b", endpoint_b)
    await two.connect("b", "a", endpoint_a)
    return a, b


async def test_a_match_across_processes_flows_both_ways(
    two_routers: tuple[Router, Router], decode_errors: DecodeErrors
) -> None:
    one, two = two_routers
    a, b = await _cross_pair(one, two)
    await a.wait_frames_like(GREEN, count=20)
    await b.wait_frames_like(RED, count=20)
    assert a.frames_like(RED) == 0 and b.frames_like(GREEN) == 0
    await _until(lambda: a.received.audio_frames > 20 and b.received.audio_frames > 20)
    assert decode_errors.count == 0
    assert one.pipe.counters.frames_sent > 20 and two.pipe.counters.frames_received > 20
    for media in (a, b):
        await media.close()


async def test_partner_keyframe_requests_cross_the_pipe(two_routers: tuple[Router, Router]) -> None:
    one, two = two_routers
    a, b = await _cross_pair(one, two)
    await b.wait_frames_like(RED, count=10)
    source = one.peers["a"].feeds["video"]
    assert isinstance(source, EncodedFeed)
    await asyncio.sleep(0.4)
    keyframes = source.keyframes
    assert b.pc is not None
    receiver = next(t.receiver for t in b.pc.getTransceivers() if t.kind == "video")
    await receiver._send_rtcp_pli(receiver.getSynchronizationSources()[0].source)
    await _until(lambda: source.keyframes > keyframes)
    for media in (a, b):
        await media.close()


async def test_lost_pipe_datagrams_gate_video_until_a_keyframe(
    two_routers: tuple[Router, Router], decode_errors: DecodeErrors
) -> None:
    one, two = two_routers
    a, b = await _cross_pair(one, two)
    await b.wait_frames_like(RED, count=10)
    # Drop every pipe datagram router two receives for half a second.
    original = two.pipe.datagram_received
    dropping = True
    two.pipe.datagram_received = lambda data, addr: None if dropping else original(data, addr)  # type: ignore[method-assign]
    await asyncio.sleep(0.5)
    dropping = False
    resumed = time.monotonic()
    await b.wait_frames_like(RED, count=15, since=resumed)
    assert two.pipe.counters.frames_lost > 0
    remote = two._sources["b"][1]
    assert remote is not None and remote.feeds["video"].losses >= 1
    assert decode_errors.count == 0
    for media in (a, b):
        await media.close()


async def test_a_restarted_peer_keeps_feeding_its_remote_partner(
    two_routers: tuple[Router, Router],
) -> None:
    one, two = two_routers
    a, b = await _cross_pair(one, two)
    await b.wait_frames_like(RED, count=10)
    # a's connection is replaced (restart): b keeps receiving a, from the new connection.
    restarted = CallerMedia(RED)
    offer = await one.open("a")
    await one.answer("a", await restarted.answer(offer))
    await a.close()
    since = time.monotonic()
    await b.wait_frames_like(RED, count=10, since=since, timeout=20)
    await restarted.wait_frames_like(GREEN, count=10, timeout=20)
    for media in (restarted, b):
        await media.close()


async def test_subscriptions_need_the_cluster_secret(loopback_only: None) -> None:
    good, stranger = _router(b"cluster-secret"), _router(b"another-secret")
    await good.start()
    await stranger.start()
    try:
        a = await connect_caller(good, "a", RED)
        b = await connect_caller(stranger, "b", GREEN)
        await stranger.connect("b", "a", good.endpoint("a"))
        await asyncio.sleep(1.5)
        assert b.frames_like(RED) == 0
        assert good.pipe.counters.refused >= 1 and good.pipe.counters.frames_sent == 0
        for media in (a, b):
            await media.close()
    finally:
        await good.close()
        await stranger.close()


async def test_subscriptions_under_an_older_key_survive_a_rotation(loopback_only: None) -> None:
    """A node already on ``[new, old]`` serves one still signing with ``old``: rotating
    keys one node at a time keeps calls across nodes alive."""
    rotated, behind = _router((b"new-secret", b"cluster-secret")), _router(b"cluster-secret")
    await rotated.start()
    await behind.start()
    try:
        a = await connect_caller(rotated, "a", RED)
        b = await connect_caller(behind, "b", GREEN)
        await behind.connect("b", "a", rotated.endpoint("a"))
        await b.wait_frames_like(RED, count=5)
        assert rotated.pipe.counters.refused == 0
        for media in (a, b):
            await media.close()
    finally:
        await rotated.close()
        await behind.close()


async def test_disconnect_ends_the_subscription(two_routers: tuple[Router, Router]) -> None:
    one, two = two_routers
    a, b = await _cross_pair(one, two)
    await b.wait_frames_like(RED, count=5)
    await two.disconnect("b")
    await _until(lambda: not one.pipe._publications)
    sent = one.pipe.counters.frames_sent
    await asyncio.sleep(0.5)
    assert one.pipe.counters.frames_sent == sent
    for media in (a, b):
        await media.close()


async def test_garbage_datagrams_are_ignored(two_routers: tuple[Router, Router]) -> None:
    one, _two = two_routers
    host, port = one.pipe.address  # type: ignore[misc]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=(host, port)
    )
    for junk in (
        b"",
        b"DP1",
        b"DP1\x03short",
        b"DP1\x01" + b"\xff" * 40,
        b"\x00" * 1500,
        b"DP1\x09x",
    ):
        transport.sendto(junk)
    transport.close()
    await asyncio.sleep(0.2)
    a = await connect_caller(one, "a", RED)
    assert one.pipe.counters.refused >= 1
    await a.close()
