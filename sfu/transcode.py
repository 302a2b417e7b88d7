"""The ``transcode`` forwarding strategy: decode once per visitor, re-encode per sender.

This is what aiortc's ``MediaRelay`` does (one reader per source track, frames fanned out
to subscribers, each outbound sender encoding again). It costs about half a core per call
and exists to compare against passthrough (``duet bench sfu``); it is not the default.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sfu.forwarding import CLOCK_RATE, Feed, OutboundTrack


class DecodedFeed(Feed):
    """Reads the decoded frames of a visitor's inbound track and pushes them on."""

    def __init__(self, kind: str, owner: str) -> None:
        super().__init__(kind, owner)
        self._task: asyncio.Task[None] | None = None

    def attach(self, track: MediaStreamTrack) -> None:
        """Start reading ``track`` (aiortc's decoded inbound track of this kind)."""
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.push(frame)

    async def close(self) -> None:
        await super().close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class DecodedTrack(OutboundTrack[Any]):
    """Transmits decoded frames; the sender's encoder compresses them again."""

    def __init__(self, kind: str, queue_size: int = 4) -> None:
        super().__init__(kind, queue_size)
        self._time_base = fractions.Fraction(1, CLOCK_RATE[kind])

    def _emit(self, frame: Any) -> Any:
        # Frames are shared between sinks but only one outbound track reads a feed, and
        # the tap does not look at timestamps.
        frame.pts = self.rebased(int(frame.pts or 0))
        frame.time_base = self._time_base
        return frame
