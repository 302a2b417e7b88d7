"""The outbound video gate of a pre-screen (``EncodedTrack.hold`` / ``release``) and the
router rule that closes it before a listener's video switches to an unscreened source."""

from __future__ import annotations

from sfu.passthrough import HOLD_LIMIT, EncodedFeed, EncodedFrame, EncodedTrack
from sfu.router import Router
from sfu.settings import SfuSettings

KEY = b"\x00\x00\x00\x9d\x01\x2a" + b"k" * 10  # a VP8 keyframe header
DELTA = b"\x01" + b"d" * 10


class CountingFeed(EncodedFeed):
    def __init__(self, owner: str = "v_src") -> None:
        super().__init__("video", owner)
        self.requests = 0

    def request_keyframe(self) -> None:
        self.requests += 1


def _queued(track: EncodedTrack) -> list[EncodedFrame]:
    items = []
    while not track._queue.empty():
        item = track._queue.get_nowait()
        assert item is not None
        items.append(item)
    return items


async def test_held_track_forwards_nothing() -> None:
    feed, track = CountingFeed(), EncodedTrack("video")
    track.hold()
    track.switch(feed)
    for n in range(5):
        feed.accept(KEY if n == 0 else DELTA, n * 3000)
    assert _queued(track) == [] and track.held


async def test_release_forwards_the_screened_keyframe_itself() -> None:
    feed, track = CountingFeed(), EncodedTrack("video")
    track.hold()
    track.switch(feed)
    asked = feed.requests
    feed.accept(KEY, 0)
    feed.accept(DELTA, 3000)
    feed.accept(DELTA, 6000)
    assert track.release(0) is True
    sent = _queued(track)
    assert [f.timestamp for f in sent] == [0, 3000, 6000] and sent[0].keyframe
    assert feed.requests == asked  # no second keyframe round trip
    feed.accept(DELTA, 9000)  # open: the stream continues
    assert [f.timestamp for f in _queued(track)] == [9000]


async def test_release_without_the_screened_keyframe_waits_for_the_next() -> None:
    feed, track = CountingFeed(), EncodedTrack("video")
    track.hold()
    track.switch(feed)
    feed.accept(KEY, 0)
    feed.accept(KEY, 3000)  # a newer keyframe than the one judged
    asked = feed.requests
    assert track.release(0) is False
    assert _queued(track) == [] and feed.requests == asked + 1
    feed.accept(DELTA, 6000)
    assert _queued(track) == []
    feed.accept(KEY, 9000)
    assert [f.timestamp for f in _queued(track)] == [9000]


async def test_hold_keeps_a_bounded_number_of_frames() -> None:
    feed, track = CountingFeed(), EncodedTrack("video")
    track.hold()
    track.switch(feed)
    feed.accept(KEY, 0)
    for n in range(1, HOLD_LIMIT + 5):
        feed.accept(DELTA, n * 3000)
    assert track._held is not None and len(track._held) <= HOLD_LIMIT
    assert track.release(0) is False  # gone: forwarding starts at the next keyframe


async def test_router_holds_a_new_source_until_released() -> None:
    router = Router(SfuSettings(), prescreen=True)
    a, b = router.create_peer("a"), router.create_peer("b")
    try:
        router.link("a", "b")
        assert a.outbound["video"].held and b.outbound["video"].held
        assert not a.outbound["audio"].held  # audio flows from the start
        assert await router.release("a", "b") is True
        assert not a.outbound["video"].held and b.outbound["video"].held
        assert await router.release("b", "someone_else") is False  # stale: not its source
        # A new peer of the source (ICE restart) keeps the listener open.
        router.create_peer("b")
        assert not a.outbound["video"].held
        # A new link (re-match, even with the same partner) is screened again.
        router.unlink("a")
        router.link("a", "b")
        assert a.outbound["video"].held
    finally:
        await router.close()


async def test_router_without_prescreen_never_holds() -> None:
    router = Router(SfuSettings(), prescreen=False)
    a, _ = router.create_peer("a"), router.create_peer("b")
    try:
        router.link("a", "b")
        assert not a.outbound["video"].held
    finally:
        await router.close()
