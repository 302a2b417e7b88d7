"""The reviewers' queue: review items, reports, appeals and QA items in one list.

Order: urgent first (escalated, or HIGH priority: possible minors, explicit frames, image
reports), then real cases oldest first, then QA samples of automatic actions (priority
``low``, oldest first; an escalated QA item is urgent like any other). Each source
contributes at most :data:`PER_SOURCE` entries, so one page is bounded whatever the
backlog. Opening an item claims it for
``admin.claim_lease_s``; an item claimed by someone else cannot be opened or decided until
the claim is released or expires, so two reviewers never work the same item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from signaling.console.sessions import Reviewer
from signaling.storage.appeals import AppealStore
from signaling.storage.bans import BanStore
from signaling.storage.claims import Claim, ClaimStore
from signaling.storage.qa import QaStore
from signaling.storage.reports import ReportStore
from signaling.storage.reviews import ReviewStore

ItemKind = Literal["review", "report", "appeal", "qa"]
KINDS: tuple[str, ...] = get_args(ItemKind)
PER_SOURCE = 200


class Claimed(Exception):
    """The item is claimed by another reviewer."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(f"{claim.item} is being reviewed by {claim.reviewer_name}")
        self.claim = claim


@dataclass(frozen=True)
class QueueEntry:
    kind: ItemKind
    id: str
    priority: str
    status: str
    created_at: datetime
    reason: str
    visitor: str
    ip: str | None
    claim: Claim | None = None
    hold_until: datetime | None = None
    """A review item that holds its visitor (possible minor in explicit video)."""

    @property
    def key(self) -> str:
        return item_key(self.kind, self.id)

    @property
    def urgent(self) -> bool:
        return self.status == "escalated" or self.priority == "high"

    @property
    def tier(self) -> int:
        """0 urgent, 1 a real case, 2 a QA sample (below every real case)."""
        if self.urgent:
            return 0
        return 2 if self.kind == "qa" else 1

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "priority": self.priority,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "age_s": max(0.0, (now - self.created_at).total_seconds()),
            "reason": self.reason,
            "visitor": self.visitor,
            "ip": self.ip,
            "claimed_by": None if self.claim is None else self.claim.reviewer_name,
            "hold": self.hold_until is not None,
            "hold_until": None if self.hold_until is None else self.hold_until.isoformat(),
        }


def item_key(kind: str, item_id: str) -> str:
    return f"{kind}:{item_id}"


class ReviewQueue:
    def __init__(
        self,
        reviews: ReviewStore,
        reports: ReportStore,
        appeals: AppealStore,
        bans: BanStore,
        claims: ClaimStore,
        lease_s: float,
        now: Callable[[], datetime],
        qa: QaStore | None = None,
    ) -> None:
        """``qa``: QA samples of automatic actions (none: the queue has no QA items)."""
        self.qa = qa
        self.reviews = reviews
        self.reports = reports
        self.appeals = appeals
        self.bans = bans
        self.claims = claims
        self.lease_s = lease_s
        self.now = now

    async def entries(self) -> list[QueueEntry]:
        """Every undecided item (bounded per source), in queue order, with its claim."""
        reviews, reports, appeals = await asyncio.gather(
            self.reviews.queued(PER_SOURCE),
            self.reports.queued(PER_SOURCE),
            self.appeals.queued(PER_SOURCE),
        )
        samples = [] if self.qa is None else await self.qa.queued(PER_SOURCE)
        bans = await self.bans.many([a.ban_id for a in appeals])
        entries = [
            QueueEntry(
                "review",
                r.id,
                r.priority,
                r.status,
                r.created_at,
                r.reason,
                r.visitor,
                r.ip,
                hold_until=r.hold_until,
            )
            for r in reviews
        ]
        entries += [
            QueueEntry(
                "report",
                r.id,
                r.priority,
                r.status,
                r.created_at,
                f"report: {r.reason}" + (f" — {r.comment}" if r.comment else ""),
                r.reported_visitor,
                r.reported_ip,
            )
            for r in reports
        ]
        for appeal in appeals:
            ban = bans.get(appeal.ban_id)
            entries.append(
                QueueEntry(
                    "appeal",
                    appeal.id,
                    "normal",
                    appeal.status,
                    appeal.created_at,
                    f"appeal of a ban for: {ban.reason if ban else 'unknown'}",
                    ban.visitor if ban else "",
                    ban.ip if ban else None,
                )
            )
        for sample in samples:
            a = sample.action
            entries.append(
                QueueEntry(
                    "qa",
                    sample.id,
                    "low",
                    sample.status,
                    a.created_at,
                    f"QA: automatic {a.kind} ({a.source}, {a.classifier}: {a.reason})",
                    a.visitor,
                    a.ip,
                )
            )
        entries.sort(key=lambda e: (e.tier, e.created_at))
        holders = await self.claims.holders([e.key for e in entries], self.now())
        return [replace(e, claim=holders.get(e.key)) for e in entries]

    async def claim(self, kind: ItemKind, item_id: str, reviewer: Reviewer) -> Claim:
        """Claim (or renew the claim on) an item; :class:`Claimed` if someone else has it."""
        claim = await self.claims.take(
            item_key(kind, item_id), reviewer.account.id, reviewer.name, self.now(), self.lease_s
        )
        if claim.reviewer != reviewer.account.id:
            raise Claimed(claim)
        return claim

    async def holds(self, kind: ItemKind, item_id: str, reviewer: Reviewer) -> bool:
        claim = await self.claims.holder(item_key(kind, item_id), self.now())
        return claim is not None and claim.reviewer == reviewer.account.id

    async def next_for(self, reviewer: Reviewer) -> QueueEntry | None:
        """Claim the first item nobody else holds (moderators skip escalated items, which
        only admins decide)."""
        for entry in await self.entries():
            if entry.claim is not None and entry.claim.reviewer != reviewer.account.id:
                continue
            if entry.status == "escalated" and not reviewer.may("admin"):
                continue
            try:
                await self.claim(entry.kind, entry.id, reviewer)
            except Claimed:
                continue  # another reviewer took it a moment ago
            return entry
        return None

    async def release(self, kind: ItemKind, item_id: str, reviewer: Reviewer) -> None:
        await self.claims.release(item_key(kind, item_id), reviewer.account.id)

    async def depth(self) -> dict[str, dict[str, Any]]:
        """Per kind: undecided items (up to :data:`PER_SOURCE`) and the oldest one's age."""
        now = self.now()
        result: dict[str, dict[str, Any]] = {
            kind: {"depth": 0, "urgent": 0, "oldest_s": None} for kind in KINDS
        }
        for entry in await self.entries():
            row = result[entry.kind]
            row["depth"] += 1
            row["urgent"] += int(entry.urgent)
            age = (now - entry.created_at).total_seconds()
            row["oldest_s"] = max(age, row["oldest_s"] or 0.0)
        return result
