"""Media wiring of matches, in order, without blocking the lobby.

The lobby decides synchronously who is matched with whom; telling the media plane can take
a round trip to an SFU worker process. :class:`Wiring` runs those calls in the background
but strictly in order per visitor (a ``connect`` issued before a ``disconnect`` is applied
before it), so the lobby never has to await them and never sees them reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sfu.plane import MediaPlane

logger = logging.getLogger(__name__)


class Wiring:
    def __init__(self, media: MediaPlane) -> None:
        self.media = media
        self._tails: dict[str, asyncio.Task[None]] = {}

    def connect(self, visitor: str, source: str, endpoint: str | None = None) -> None:
        """From now on ``visitor`` receives ``source``'s media (pulled from ``endpoint``
        when ``source`` is on another node)."""
        endpoint = endpoint or self.media.endpoint(source)
        self._then(visitor, lambda: self.media.connect(visitor, source, endpoint))

    def release(self, visitor: str, source: str, keyframe: int | None) -> None:
        """Open ``visitor``'s held video from ``source`` (pre-screened safe), after every
        connect issued before it; a no-op if ``visitor`` receives someone else by then."""

        async def release() -> None:
            await self.media.release(visitor, source, keyframe)

        self._then(visitor, release)

    def disconnect(self, visitor: str) -> None:
        self._then(visitor, lambda: self.media.disconnect(visitor))

    def pending(self, visitor: str) -> asyncio.Task[None] | None:
        """The last wiring call issued for ``visitor``, while it has not run yet."""
        return self._tails.get(visitor)

    async def settle(self, visitor: str) -> None:
        """Wait until every wiring call issued so far for ``visitor`` has run."""
        tail = self._tails.get(visitor)
        if tail is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(tail)

    def _then(self, visitor: str, call: Callable[[], Awaitable[None]]) -> None:
        previous = self._tails.get(visitor)

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            try:
                await call()
            except Exception:
                logger.exception("media wiring failed", extra={"visitor": visitor})

        task = asyncio.ensure_future(run())
        self._tails[visitor] = task
        task.add_done_callback(lambda done: self._cleanup(visitor, done))

    def _cleanup(self, visitor: str, done: asyncio.Task[None]) -> None:
        if self._tails.get(visitor) is done:
            del self._tails[visitor]
