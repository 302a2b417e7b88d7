"""Forwarding: how one visitor's inbound media reaches the partner's outbound track.

Two kinds of object, wired by :class:`sfu.router.Router`:

- a :class:`Feed` per inbound kind of a visitor: it pushes every frame it gets to its
  sinks (the partner's outbound track, a moderation tap);
- an :class:`OutboundTrack` per outbound sender of a visitor: a ``MediaStreamTrack`` that
  transmits whichever feed it is switched to, or nothing while it has none. Switching never
  renegotiates; timestamps are rebased so that they keep increasing across sources (each
  source's timestamps start at 0).

Two strategies implement them: ``passthrough`` (:mod:`sfu.passthrough`, encoded frames, the
default) and ``transcode`` (:mod:`sfu.transcode`, decoded frames re-encoded per sender, as
aiortc's ``MediaRelay`` does; kept to compare). Queues are bounded everywhere: a slow
consumer loses its oldest frames instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sink = Callable[[Any], None]
"""Receives each frame of a feed; runs on the event loop and must not block."""

CLOCK_RATE = {"video": 90_000, "audio": 48_000}
# One frame's duration in each kind's clock: how far timestamps advance across a switch.
FRAME_STEP = {"video": 3000, "audio": 960}


class Feed:
    """One visitor's inbound media of one kind, pushed to any number of sinks."""

    def __init__(self, kind: str, owner: str) -> None:
        self.kind = kind
        self.owner = owner
        """Visitor id the media comes from (frames are never mixed between visitors)."""
        self.frames = 0
        """Frames received so far."""
        self.keyframes = 0
        """Keyframes received so far (passthrough video only)."""
        self._sinks: list[Sink] = []

    def subscribe(self, sink: Sink) -> None:
        if sink not in self._sinks:
            self._sinks.append(sink)

    def unsubscribe(self, sink: Sink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    def request_keyframe(self) -> None:
        """Ask the source for a keyframe (no-op where frames are decoded pictures)."""

    def offer_remb(self, bitrate: int) -> None:
        """A consumer's bandwidth estimate, to pass on to the source (where supported)."""

    def push(self, frame: Any) -> None:
        self.frames += 1
        for sink in list(self._sinks):
            try:
                sink(frame)
            except Exception:  # a broken consumer must not stop the others
                logger.exception("feed sink failed (%s of %s)", self.kind, self.owner)

    async def close(self) -> None:
        self._sinks.clear()


class OutboundTrack(MediaStreamTrack, Generic[T]):
    """The track a visitor's sender transmits: the current partner's feed, or nothing.

    Subclasses decide what a queued item is (``T``) and turn it into what the sender takes
    in :meth:`_emit`."""

    def __init__(self, kind: str, queue_size: int) -> None:
        super().__init__()
        self.kind = kind
        self.source: Feed | None = None
        self.frames = 0
        """Frames handed to the sender."""
        self.dropped = 0
        """Frames dropped because the sender fell behind or a keyframe was awaited."""
        self.switches = 0
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(maxsize=queue_size)
        self._step = FRAME_STEP[kind]
        self._offset = 0
        self._last: int | None = None
        self._rebase = False
        self.new_source_hook: Callable[[], None] | None = None
        """Called just before the first frame of a new source goes to the sender (the peer
        sets it to skip sequence numbers there: ``sfu.aiortc_hooks.SequenceGap``)."""
        self._new_source = False
        self._holding = False

    def switch(self, feed: Feed | None) -> None:
        """Transmit ``feed`` from now on (``None``: transmit nothing). No renegotiation."""
        if feed is self.source:
            return
        if self.source is not None:
            self.source.unsubscribe(self._deliver)
        while not self._queue.empty():
            self._queue.get_nowait()
        self.source = feed
        self._rebase = True
        self._new_source = self._new_source or self.frames > 0
        self.switches += 1
        self._on_switch()
        if feed is not None:
            feed.subscribe(self._deliver)

    def _on_switch(self) -> None:
        """Hook for subclasses, run after the source changed."""

    # --- the pre-screen gate ------------------------------------------------------------
    # Separate from switching: the router closes the gate of a video track before it
    # switches to a source that moderation has not screened for this listener yet, and
    # moderation's verdict opens it (``sfu.router.Router.release``).

    def hold(self) -> None:
        """Forward nothing until :meth:`release` (the gate is closed)."""
        self._holding = True
        while not self._queue.empty():
            self._queue.get_nowait()
            self.dropped += 1

    def release(self, keyframe: int | None = None) -> bool:
        """Open the gate; ``keyframe`` is for strategies that can forward the screened
        frame itself (:class:`sfu.passthrough.EncodedTrack`). Returns whether it did."""
        self._holding = False
        return False

    @property
    def held(self) -> bool:
        """Whether the gate is closed."""
        return self._holding

    def _deliver(self, item: T) -> None:
        if self.readyState != "live":
            return
        if self._holding:
            self.dropped += 1
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            self._on_drop()
        self._queue.put_nowait(item)

    def _on_drop(self) -> None:
        """Hook for subclasses, run when the queue overflowed and dropped a frame."""

    def rebased(self, timestamp: int) -> int:
        """Map a source timestamp to this track's own, increasing across switches."""
        if self._rebase:
            self._rebase = False
            self._offset = 0 if self._last is None else self._last + self._step - timestamp
        out = timestamp + self._offset
        if self._last is not None and out <= self._last:
            out = self._last + 1
            self._offset = out - timestamp
        self._last = out
        return out

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        self.frames += 1
        if self._new_source:
            # The receiver may still hold the previous source's last frame: make it drop
            # that frame rather than show it when this one arrives.
            self._new_source = False
            if self.new_source_hook is not None:
                self.new_source_hook()
        return self._emit(item)

    def _emit(self, item: T) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        if self.source is not None:
            self.source.unsubscribe(self._deliver)
            self.source = None
        super().stop()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
