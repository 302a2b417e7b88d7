"""Forwarding: how one visitor's inbound media reaches the partner's outbound track.

Two objects, wired by :class:`sfu.router.Router`:

- a :class:`Feed` per inbound track (kind) of a visitor: it reads the track once and pushes
  every frame to its subscribers (the partner's outbound track, a moderation tap);
- an :class:`OutboundTrack` per outbound sender of a visitor: a ``MediaStreamTrack`` that
  transmits whichever feed it is switched to, or nothing while it has none. Switching never
  renegotiates; presentation timestamps are rebased so that they keep increasing across
  sources (each source starts at 0).

This module implements the ``transcode`` strategy: the feed carries *decoded* frames and
the outbound sender re-encodes them (what aiortc's ``MediaRelay`` does). Queues are bounded:
a slow consumer loses its oldest frames instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

Sink = Callable[[Any], None]
"""Receives each frame of a feed; must not block (it runs on the event loop)."""

# One frame's duration in each kind's clock, used to continue timestamps across a switch.
_STEP = {
    "video": (3000, fractions.Fraction(1, 90_000)),
    "audio": (960, fractions.Fraction(1, 48_000)),
}


class Feed:
    """One visitor's inbound media of one kind, fanned out to any number of sinks."""

    def __init__(self, kind: str, owner: str) -> None:
        self.kind = kind
        self.owner = owner
        """Visitor id the media comes from (frames are never mixed between visitors)."""
        self.frames = 0
        """Frames read from the inbound track so far."""
        self._sinks: list[Sink] = []
        self._task: asyncio.Task[None] | None = None
        self._attached = asyncio.Event()

    @property
    def live(self) -> bool:
        """Whether an inbound track is attached and being read."""
        return self._task is not None and not self._task.done()

    def attach(self, track: MediaStreamTrack) -> None:
        """Start reading ``track`` (the visitor's inbound track of this kind)."""
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.ensure_future(self._read(track))
        self._attached.set()

    def subscribe(self, sink: Sink) -> None:
        if sink not in self._sinks:
            self._sinks.append(sink)

    def unsubscribe(self, sink: Sink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    async def close(self) -> None:
        self._sinks.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frames += 1
            for sink in list(self._sinks):
                try:
                    sink(frame)
                except Exception:  # a broken consumer must not stop the others
                    logger.exception("feed sink failed (%s of %s)", self.kind, self.owner)


class OutboundTrack(MediaStreamTrack):
    """The track a visitor's sender transmits: the current partner's feed, or nothing."""

    def __init__(self, kind: str, queue_size: int = 4) -> None:
        super().__init__()
        self.kind = kind
        self.source: Feed | None = None
        self.dropped = 0
        """Frames dropped because the sender fell behind."""
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._step, self._time_base = _STEP[kind]
        self._offset = 0
        self._last_pts: int | None = None
        self._rebase = False

    def switch(self, feed: Feed | None) -> None:
        """Transmit ``feed`` from now on (``None``: transmit nothing)."""
        if feed is self.source:
            return
        if self.source is not None:
            self.source.unsubscribe(self._deliver)
        while not self._queue.empty():
            self._queue.get_nowait()
        self.source = feed
        self._rebase = True
        if feed is not None:
            feed.subscribe(self._deliver)

    def _deliver(self, frame: Any) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(frame)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        pts = int(frame.pts or 0)
        if self._rebase:
            self._rebase = False
            self._offset = 0 if self._last_pts is None else self._last_pts + self._step - pts
        out = pts + self._offset
        if self._last_pts is not None and out <= self._last_pts:
            out = self._last_pts + 1
            self._offset = out - pts
        self._last_pts = out
        frame.pts = out
        frame.time_base = self._time_base
        return frame

    def stop(self) -> None:
        if self.source is not None:
            self.source.unsubscribe(self._deliver)
            self.source = None
        super().stop()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
