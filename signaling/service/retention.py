"""The retention job: a periodic purge of what Duet stores, each by its own age.

* ended match records older than ``retention.matches_days``;
* session records that expired more than ``retention.sessions_days`` ago;
* chat attached to reports after ``retention.chat_attachments_hours`` (24 h), unless the
  report is still under review (the report store decides which ones are).

Evidence follows ``moderation.evidence_retention_days`` and is purged by moderation's own
job. Each purge is independent: one failing (logged) does not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from duet.clock import SYSTEM_CLOCK
from signaling.config.door import RetentionSettings

logger = logging.getLogger(__name__)


class Purge(Protocol):
    async def __call__(self, before: datetime) -> int:
        """Delete what is older than ``before``; returns how many records went."""
        ...


@dataclass
class RetentionJob:
    settings: RetentionSettings
    now: Callable[[], datetime]
    """Wall clock (UTC, aware)."""
    matches: Purge | None = None
    sessions: Purge | None = None
    chat_attachments: Purge | None = None
    sleep: Callable[[float], Awaitable[None]] = SYSTEM_CLOCK.sleep
    """Waits between purges (:meth:`duet.clock.Clock.sleep`)."""
    purged: dict[str, int] = field(default_factory=dict)
    """Records deleted so far, by kind (for metrics)."""
    _task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int]:
        """One purge of everything; returns what went this time, by kind."""
        now = self.now()
        s = self.settings
        plan: list[tuple[str, Purge | None, timedelta]] = [
            ("matches", self.matches, timedelta(days=s.matches_days)),
            ("sessions", self.sessions, timedelta(days=s.sessions_days)),
            ("chat_attachments", self.chat_attachments, timedelta(hours=s.chat_attachments_hours)),
        ]
        done: dict[str, int] = {}
        for kind, purge, age in plan:
            if purge is None:
                continue
            try:
                count = await purge(now - age)
            except Exception:
                logger.exception("retention: purging %s failed", kind)
                continue
            done[kind] = count
            self.purged[kind] = self.purged.get(kind, 0) + count
        if any(done.values()):
            logger.info("retention purged %s", done)
        return done

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await self.sleep(self.settings.interval_s)
