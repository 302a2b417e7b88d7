"""Bans and review items: record the evidence first, then act.

The order is the point: evidence files are on disk (fsynced) and the records are committed
to the store *before* the enforcer announces a ban, so every ban a visitor sees has its
evidence. Used by both the video and the chat moderator.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from moderation.evidence import utc_now
from moderation.ports import Enforcer
from moderation.records import (
    BanRecord,
    EvidenceRecord,
    ModerationStore,
    Priority,
    ReviewItem,
    Subject,
)
from moderation.stats import ModerationStats

logger = logging.getLogger(__name__)


class Sanctions:
    def __init__(
        self,
        store: ModerationStore,
        enforcer: Enforcer,
        stats: ModerationStats,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.enforcer = enforcer
        self.stats = stats
        self.now = now

    async def ban(
        self,
        subject: Subject,
        reason: str,
        source: str,
        duration_s: float,
        evidence: EvidenceRecord,
    ) -> BanRecord:
        created = self.now()
        ban = BanRecord(
            id="b_" + secrets.token_hex(8),
            visitor=subject.visitor,
            ip=subject.ip,
            session=subject.session,
            device=subject.device,
            reason=reason,
            source=source,
            created_at=created,
            until=created + timedelta(seconds=duration_s),
            evidence_id=evidence.id,
        )
        await self.store.save(evidence, ban=ban)
        self.stats.bans[source] += 1
        logger.warning(
            "moderation ban %s: visitor %s (%s) until %s: %s",
            ban.id,
            subject.visitor,
            source,
            ban.until.isoformat(timespec="seconds"),
            reason,
        )
        await self.enforcer.enforce(ban)
        return ban

    async def review(
        self,
        subject: Subject,
        match: str | None,
        priority: Priority,
        reason: str,
        evidence: EvidenceRecord,
    ) -> ReviewItem:
        item = ReviewItem(
            id="r_" + secrets.token_hex(8),
            visitor=subject.visitor,
            match=match,
            priority=priority,
            reason=reason,
            created_at=self.now(),
            evidence_id=evidence.id,
            ip=subject.ip,
            session=subject.session,
            device=subject.device,
        )
        await self.store.save(evidence, review=item)
        self.stats.review_items[priority] += 1
        logger.warning(
            "moderation review item %s (%s): visitor %s: %s",
            item.id,
            priority,
            subject.visitor,
            reason,
        )
        return item
