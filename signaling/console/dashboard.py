"""The dashboard: what a trust & safety lead looks at first.

Online now by mode (this node's lobby), matches, reports and bans per hour over the last
day, repeat offenders, the review queue's depth and age, the moderation breaker, and the
share of video visitors whose media is relayed by TURN (the media plane's candidate
types, summed over SFU processes), and the measured precision of automatic actions
(:mod:`.precision`, refreshed at each snapshot).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from moderation import Moderation
from sfu.plane import MediaPlane
from signaling.console import live
from signaling.console.precision import Precision
from signaling.console.queue import ReviewQueue
from signaling.room.lobby import Lobby
from signaling.storage.dashboard import DashboardStore


class Dashboard:
    def __init__(
        self,
        store: DashboardStore,
        queue: ReviewQueue,
        lobby: Lobby,
        moderation: Moderation,
        media: MediaPlane,
        now: Callable[[], datetime],
        precision: Precision | None = None,
    ) -> None:
        self.precision = precision
        self.store = store
        self.queue = queue
        self.lobby = lobby
        self.moderation = moderation
        self.media = media
        self.now = now

    async def snapshot(self) -> dict[str, Any]:
        now = self.now()
        moderation = self.moderation.snapshot()
        types = dict(self.media.snapshot().candidate_types)
        known = sum(n for kind, n in types.items() if kind != "unknown")
        return {
            "at": now.isoformat(),
            "online": live.online(self.lobby),
            "per_hour": await self.store.per_hour(now),
            "repeat_offenders": await self.store.repeat_offenders(now),
            "queue": await self.queue.depth(),
            "moderation": {
                "enabled": moderation["enabled"],
                "breaker": moderation.get("breaker", {}).get("state", "off"),
                "checks_run": moderation["checks_run"],
                "bans": moderation["bans"],
                "review_items": moderation["review_items"],
            },
            "precision": (
                None if self.precision is None else (await self.precision.refresh()).as_dict()
            ),
            "relay": {
                "candidate_types": types,
                "share": None if known == 0 else types.get("relay", 0) / known,
            },
        }
