"""What reviewers decide, and its consequences.

* review item: *uphold* bans the visitor (for a duration); *overturn*: it was no
  violation, and its evidence is deleted; *escalate*. A *hold* (a review item with
  ``hold_until``): uphold bans with the held evidence; overturn releases the visitor at
  once (told with ``held {released: true}``).
* report: *uphold* bans the reported visitor; *dismiss*; *escalate*.
* appeal: *uphold*: the ban stands; *overturn*: the ban is lifted at once and its evidence
  deleted; *escalate*. Overturning an automatic ban also counts its action as *wrong* for
  the measured precision (:mod:`.precision`).
* QA item (a sampled automatic action): *correct*: nothing changes; *wrong*: for a ban,
  the ban is lifted at once and its evidence deleted (the visitor learns it on their next
  visit, as after an overturned appeal); for another kind, the handler registered in
  :attr:`Decisions.undo` runs; *unsure*: escalated (admins decide).

Every decision needs the reviewer to hold the item's claim (see :mod:`.queue`) and a
short reason; escalated items are decided by admins only. The item's new status, any ban
made or lifted, deleted evidence records and the audit entries are one transaction;
evidence *files* are deleted and banned visitors removed after it commits. An item that
someone else decided meanwhile is refused (``conflict``), never decided twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from duet.person import Person
from moderation.evidence import EvidenceWriter
from moderation.records import BanRecord, EvidenceRecord, ReviewItem
from signaling.console.banning import Banning, DecisionError
from signaling.console.queue import ItemKind, ReviewQueue
from signaling.console.sessions import Reviewer
from signaling.storage.appeals import AppealStore
from signaling.storage.audit import AuditLog, AuditTransaction
from signaling.storage.bans import BanStore
from signaling.storage.qa import QaItem, QaStatus, QaStore
from signaling.storage.reports import ReportStore
from signaling.storage.reviews import ReviewStore

logger = logging.getLogger(__name__)

ReviewAction = Literal["uphold", "overturn", "dismiss", "escalate", "correct", "wrong", "unsure"]
ALLOWED: dict[str, frozenset[str]] = {
    "review": frozenset({"uphold", "overturn", "escalate"}),
    "report": frozenset({"uphold", "dismiss", "escalate"}),
    "appeal": frozenset({"uphold", "overturn", "escalate"}),
    "qa": frozenset({"correct", "wrong", "unsure"}),
}
QA_STATUS: dict[str, QaStatus] = {"correct": "correct", "wrong": "wrong", "unsure": "escalated"}
Undo = Callable[[AuditTransaction, QaItem, Reviewer, str], Awaitable[list[EvidenceRecord]]]
"""Undoes a wrong automatic action of some kind inside the decision's transaction;
returns evidence records it deleted (their files go once it commits)."""
REVIEW_STATUS: dict[str, Literal["upheld", "overturned", "escalated"]] = {
    "uphold": "upheld",
    "overturn": "overturned",
    "escalate": "escalated",
}
REPORT_STATUS: dict[str, Literal["actioned", "dismissed", "escalated"]] = {
    "uphold": "actioned",
    "dismiss": "dismissed",
    "escalate": "escalated",
}
__all__ = ["ALLOWED", "DecisionError", "Decisions", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    kind: str
    id: str
    status: str
    ban: BanRecord | None = None
    lifted: str | None = None
    evidence_deleted: int = 0
    lifted_ban: BanRecord | None = None
    """The ban an overturned appeal lifted (to forget it in the shared ban cache)."""
    released: ReviewItem | None = None
    """The hold an overturned review item ended (its visitor is told at once)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "status": self.status,
            "ban": None if self.ban is None else self.ban.id,
            "lifted": self.lifted,
            "evidence_deleted": self.evidence_deleted,
        }


class Decisions:
    def __init__(
        self,
        audit: AuditLog,
        queue: ReviewQueue,
        reviews: ReviewStore,
        reports: ReportStore,
        appeals: AppealStore,
        bans: BanStore,
        evidence: EvidenceWriter,
        banning: Banning,
        now: Callable[[], datetime],
        qa: QaStore | None = None,
    ) -> None:
        """``qa``: the QA items (none: no QA kind, appeals count nothing)."""
        self.qa = qa
        self.undo: dict[str, Undo] = {}
        """Per automatic action kind other than ``ban`` (e.g. ``hold``): what a *wrong*
        decision undoes. Without one, *wrong* is recorded and nothing else changes."""
        self.audit = audit
        self.queue = queue
        self.reviews = reviews
        self.reports = reports
        self.appeals = appeals
        self.bans = bans
        self.evidence = evidence
        self.banning = banning
        self.now = now

    # --- queue items ------------------------------------------------------------------

    async def decide(
        self,
        reviewer: Reviewer,
        kind: ItemKind,
        item_id: str,
        action: ReviewAction,
        reason: str,
        duration_s: float | None = None,
    ) -> Outcome:
        if action not in ALLOWED[kind]:
            raise DecisionError(400, "bad_action", f"a {kind} cannot be {action}d")
        if not await self.queue.holds(kind, item_id, reviewer):
            raise DecisionError(409, "not_claimed", "open the item first (or it was taken)")
        duration = self.banning.duration(duration_s)
        if kind == "review":
            outcome, evidence = await self._review(reviewer, item_id, action, reason, duration)
        elif kind == "report":
            outcome, evidence = await self._report(reviewer, item_id, action, reason, duration)
        elif kind == "qa":
            outcome, evidence = await self._qa(reviewer, item_id, action, reason)
        else:
            outcome, evidence = await self._appeal(reviewer, item_id, action, reason)
        await self.queue.release(kind, item_id, reviewer)
        await self._after(outcome, evidence)
        return outcome

    async def _review(
        self, reviewer: Reviewer, item_id: str, action: ReviewAction, reason: str, duration: float
    ) -> tuple[Outcome, list[EvidenceRecord]]:
        item = await self.reviews.get(item_id)
        if item is None:
            raise DecisionError(404, "not_found", "no such review item")
        self._may_decide(reviewer, item.status, action)
        linked = None if item.ban_id is None else await self.bans.get(item.ban_id)

        async def work(tx: AuditTransaction) -> tuple[Outcome, list[EvidenceRecord]]:
            status = REVIEW_STATUS[action]
            if not await self.reviews.decide(
                tx, item.id, status, reviewer.name, reason, self.now()
            ):
                raise DecisionError(409, "conflict", "the item was decided a moment ago")
            details = {"visitor": item.visitor, "ip": item.ip, "evidence": item.evidence_id}
            await tx.append(
                reviewer.actor, f"review.{status}", f"review:{item.id}", reason, details
            )
            # A hold, or a ban the item asked to confirm: the decision is the QA measure.
            ref = item.id if item.hold_until is not None else item.ban_id
            if self.qa is not None and ref is not None and status != "escalated":
                await self.qa.decided_by_review(
                    tx, ref, status == "upheld", reviewer.name, reason, self.now()
                )
            if item.ban_id is not None and status == "upheld":
                return Outcome("review", item.id, status), []  # the ban stands
            if item.ban_id is not None and status == "overturned":
                lifted = await self.banning.lift(tx, item.ban_id, reviewer, reason)
                taken = await self.reviews.take_evidence(tx, [item.evidence_id])
                await self._evidence_deleted(tx, reviewer, taken, reason)
                outcome = Outcome(
                    "review",
                    item.id,
                    status,
                    lifted=item.ban_id if lifted else None,
                    evidence_deleted=len(taken),
                    lifted_ban=linked if lifted else None,
                )
                return outcome, taken
            if status == "upheld":
                if item.ip is None:
                    raise DecisionError(409, "no_identifiers", "the item has no IP to ban")
                target = Person(item.visitor, item.ip, item.session, item.device)
                ban = self.banning.new(
                    target, item.reason, "review", duration, reviewer, item.evidence_id
                )
                await self.banning.add(tx, ban, reviewer, reason)
                return Outcome("review", item.id, status, ban=ban), []
            if status == "overturned":
                taken = await self.reviews.take_evidence(tx, [item.evidence_id])
                await self._evidence_deleted(tx, reviewer, taken, reason)
                released = item if item.hold_until is not None else None
                outcome = Outcome(
                    "review", item.id, status, evidence_deleted=len(taken), released=released
                )
                return outcome, taken
            return Outcome("review", item.id, status), []

        return await self.audit.run(work)

    async def _report(
        self, reviewer: Reviewer, item_id: str, action: ReviewAction, reason: str, duration: float
    ) -> tuple[Outcome, list[EvidenceRecord]]:
        report = await self.reports.get(item_id)
        if report is None:
            raise DecisionError(404, "not_found", "no such report")
        self._may_decide(reviewer, report.status, action)

        async def work(tx: AuditTransaction) -> tuple[Outcome, list[EvidenceRecord]]:
            status = REPORT_STATUS[action]
            if not await self.reports.decide(
                tx, report.id, status, reviewer.name, reason, self.now()
            ):
                raise DecisionError(409, "conflict", "the report was decided a moment ago")
            details = {"reported": report.reported_visitor, "ip": report.reported_ip}
            await tx.append(
                reviewer.actor, f"report.{status}", f"report:{report.id}", reason, details
            )
            if status != "actioned":
                return Outcome("report", report.id, status), []
            target = Person(
                report.reported_visitor,
                report.reported_ip,
                report.reported_session,
                report.reported_device,
            )
            why = f"reported for {report.reason}"
            ban = self.banning.new(target, why, "report", duration, reviewer)
            await self.banning.add(tx, ban, reviewer, reason)
            return Outcome("report", report.id, status, ban=ban), []

        return await self.audit.run(work)

    async def _appeal(
        self, reviewer: Reviewer, item_id: str, action: ReviewAction, reason: str
    ) -> tuple[Outcome, list[EvidenceRecord]]:
        appeal = await self.appeals.get(item_id)
        if appeal is None:
            raise DecisionError(404, "not_found", "no such appeal")
        self._may_decide(reviewer, appeal.status, action)
        ban = await self.bans.get(appeal.ban_id)

        async def work(tx: AuditTransaction) -> tuple[Outcome, list[EvidenceRecord]]:
            status = REVIEW_STATUS[action]
            now = self.now()
            if not await self.appeals.decide(tx, appeal.id, status, reviewer.name, reason, now):
                raise DecisionError(409, "conflict", "the appeal was decided a moment ago")
            details = {"ban": appeal.ban_id, "ip": ban.ip if ban else None}
            await tx.append(
                reviewer.actor, f"appeal.{status}", f"appeal:{appeal.id}", reason, details
            )
            if status != "overturned" or ban is None:
                return Outcome("appeal", appeal.id, status), []
            await self.banning.lift(tx, ban.id, reviewer, reason)
            taken = await self.reviews.take_evidence(tx, [ban.evidence_id or ""])
            await self._evidence_deleted(tx, reviewer, taken, reason)
            if self.qa is not None and ban.created_by is None:
                for qa_id in await self.qa.wrong_by_appeal(tx, ban.id, reviewer.name, reason, now):
                    await tx.append(
                        reviewer.actor,
                        "qa.wrong",
                        f"qa:{qa_id}",
                        reason,
                        {"ban": ban.id, "via": "appeal", "appeal": appeal.id},
                    )
            outcome = Outcome(
                "appeal",
                appeal.id,
                status,
                lifted=ban.id,
                evidence_deleted=len(taken),
                lifted_ban=ban,
            )
            return outcome, taken

        return await self.audit.run(work)

    async def _qa(
        self, reviewer: Reviewer, item_id: str, action: ReviewAction, reason: str
    ) -> tuple[Outcome, list[EvidenceRecord]]:
        item = None if self.qa is None else await self.qa.get(item_id)
        if self.qa is None or item is None or not item.sampled:
            raise DecisionError(404, "not_found", "no such QA item")
        qa = self.qa
        self._may_decide(reviewer, item.status, "escalate" if action == "unsure" else action)
        ban = await self.bans.get(item.action.ref) if item.action.kind == "ban" else None

        async def work(tx: AuditTransaction) -> tuple[Outcome, list[EvidenceRecord]]:
            status = QA_STATUS[action]
            if not await qa.decide(tx, item.id, status, reviewer.name, reason, self.now()):
                raise DecisionError(409, "conflict", "the item was decided a moment ago")
            a = item.action
            details = {
                "ref": a.ref,
                "kind": a.kind,
                "source": a.source,
                "classifier": a.classifier,
                "reason": a.reason,
                "score": a.score,
                "via": "qa",
            }
            await tx.append(reviewer.actor, f"qa.{status}", f"qa:{item.id}", reason, details)
            if status != "wrong":
                return Outcome("qa", item.id, status), []
            why = f"QA: the automatic {a.kind} was wrong: {reason}"
            if a.kind != "ban":
                undo = self.undo.get(a.kind)
                taken = [] if undo is None else await undo(tx, item, reviewer, why)
                return Outcome("qa", item.id, status, evidence_deleted=len(taken)), taken
            lifted = ban is not None and await self.banning.lift(tx, ban.id, reviewer, why)
            taken = await self.reviews.take_evidence(tx, [a.evidence_id or ""])
            await self._evidence_deleted(tx, reviewer, taken, why)
            outcome = Outcome(
                "qa",
                item.id,
                status,
                lifted=ban.id if lifted and ban else None,
                evidence_deleted=len(taken),
                lifted_ban=ban if lifted else None,
            )
            return outcome, taken

        return await self.audit.run(work)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _may_decide(reviewer: Reviewer, status: str, action: ReviewAction) -> None:
        if status not in ("open", "escalated"):
            raise DecisionError(409, "conflict", f"the item was {status} already")
        if status == "escalated" and action == "escalate":
            raise DecisionError(409, "conflict", "the item is escalated already")
        if status == "escalated" and not reviewer.may("admin"):
            raise DecisionError(403, "forbidden", "escalated items are decided by admins")

    @staticmethod
    async def _evidence_deleted(
        tx: AuditTransaction, reviewer: Reviewer, taken: list[EvidenceRecord], reason: str
    ) -> None:
        for record in taken:
            details = {"sha256": record.sha256, "visitor": record.visitor}
            await tx.append(
                reviewer.actor, "evidence.deleted", f"evidence:{record.id}", reason, details
            )

    async def _after(self, outcome: Outcome, evidence: list[EvidenceRecord]) -> None:
        """Consequences outside the database, once the decision is committed."""
        if evidence:
            try:
                await self.evidence.delete(evidence)
            except OSError:
                logger.exception("could not delete evidence files of %s", outcome.id)
        if outcome.ban is not None and outcome.ban.visitor:
            await self.banning.enforce(outcome.ban)
        if outcome.lifted_ban is not None:
            await self.banning.forget(outcome.lifted_ban)
        if outcome.released is not None:
            await self.banning.enforcer.release(outcome.released)
