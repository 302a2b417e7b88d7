"""Bans, holds and review items: record the evidence first, then act.

The order is the point: evidence files are on disk (fsynced) and the records are committed
to the store *before* the enforcer announces a ban, so every ban a visitor sees has its
evidence. Used by both the video and the chat moderator.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from duet.person import Person
from moderation.clock import SYSTEM_CLOCK
from moderation.ports import Enforcer
from moderation.records import BanRecord, EvidenceRecord, ModerationStore, Priority, ReviewItem
from moderation.stats import ModerationStats

logger = logging.getLogger(__name__)


class Sanctions:
    def __init__(
        self,
        store: ModerationStore,
        enforcer: Enforcer,
        stats: ModerationStats,
        now: Callable[[], datetime] = SYSTEM_CLOCK.wall,
    ) -> None:
        self.store = store
        self.enforcer = enforcer
        self.stats = stats
        self.now = now

    async def ban(
        self,
        subject: Person,
        reason: str,
        source: str,
        duration_s: float,
        evidence: EvidenceRecord,
        confirm: bool = False,
    ) -> BanRecord:
        """``confirm``: also open a review item (same transaction) for a reviewer to
        confirm the ban (uphold) or lift it (overturn)."""
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
        item = None
        if confirm:
            item = ReviewItem(
                id="r_" + secrets.token_hex(8),
                visitor=subject.visitor,
                match=evidence.match,
                priority="normal",
                reason=f"confirm the ban: {reason}",
                created_at=created,
                evidence_id=evidence.id,
                ip=subject.ip,
                session=subject.session,
                device=subject.device,
                ban_id=ban.id,
            )
        await self.store.save(evidence, ban=ban, review=item)
        self.stats.bans[source] += 1
        if item is not None:
            self.stats.review_items["normal"] += 1
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
        subject: Person,
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

    async def hold(
        self,
        subject: Person,
        match: str | None,
        reason: str,
        evidence: EvidenceRecord,
        duration_s: float,
    ) -> ReviewItem:
        """Hold a possible minor seen in explicit video: the ONE place holds are made.

        A hold is a HIGH-priority review item with ``hold_until`` set, saved (and
        audit-logged by the store) with its evidence before the enforcer stops the
        visitor's media and keeps them out of matching. It is not a ban: no IP is covered
        and there is nothing to appeal; a reviewer's uphold bans with this evidence, an
        overturn releases the visitor at once. Hook automatic-action bookkeeping (QA
        sampling, metrics) here."""
        created = self.now()
        item = ReviewItem(
            id="r_" + secrets.token_hex(8),
            visitor=subject.visitor,
            match=match,
            priority="high",
            reason=reason,
            created_at=created,
            evidence_id=evidence.id,
            ip=subject.ip,
            session=subject.session,
            device=subject.device,
            hold_until=created + timedelta(seconds=duration_s),
        )
        await self.store.save(evidence, review=item)
        self.stats.review_items["high"] += 1
        self.stats.holds += 1
        logger.warning(
            "moderation hold %s: visitor %s held until %s: %s",
            item.id,
            subject.visitor,
            (item.hold_until or created).isoformat(timespec="seconds"),
            reason,
        )
        await self.enforcer.hold(item)
        return item
