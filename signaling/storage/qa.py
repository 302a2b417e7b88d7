"""QA sampling of automatic actions: every automatic ban (and hold) is recorded here, and a
stratified random share of them becomes a QA item that reviewers mark correct or wrong.

An *automatic action* is anything the machine decided alone: a video ban, a ban for chat
strikes, a ban after enough verbal reports, a hold. Each is a row of ``qa_items`` with its
stratum (``kind``, ``source``, ``classifier``, ``reason``). Sampling (:class:`Sampler`) is
random but stratified: the first ``minimum`` actions of a stratum within ``window_s`` are
always sampled, so rare sources and reasons get checked even when the rate would miss
them; after that each action is sampled with probability ``rate``. The count of a
stratum's earlier actions is read in the transaction that records the new one.

Recording happens inside the transaction of the action itself (:meth:`QaStore.record`),
or in one of its own (:meth:`QaStore.automatic`, for callers that record holds).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, cast, func, select, update

from signaling.storage.audit import SYSTEM_MODERATION, AuditLog, AuditTransaction
from signaling.storage.cases import OPEN_STATUSES, decide_case
from signaling.storage.db import Database, utc
from signaling.storage.qa_actions import AutomaticAction, Sampler
from signaling.storage.tables import QaRow

QaStatus = Literal["correct", "wrong", "escalated"]
DECIDED = ("correct", "wrong")


@dataclass(frozen=True)
class QaItem:
    """An automatic action as stored: sampled or not, and what reviewers decided."""

    id: str
    action: AutomaticAction
    sampled: bool
    status: str
    via: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "id": self.id,
            "kind": a.kind,
            "source": a.source,
            "classifier": a.classifier,
            "reason": a.reason,
            "score": a.score,
            "ref": a.ref,
            "evidence": a.evidence_id,
            "visitor": a.visitor,
            "ip": a.ip,
            "match": a.match,
            "created_at": a.created_at.isoformat(),
            "sampled": self.sampled,
            "status": self.status,
            "via": self.via,
            "decided_by": self.decided_by,
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
            "note": self.note,
        }


def qa_item(row: QaRow) -> QaItem:
    action = AutomaticAction(
        kind=row.kind,
        source=row.source,
        classifier=row.classifier,
        reason=row.reason,
        ref=row.ref,
        visitor=row.visitor,
        created_at=utc(row.created_at),
        score=row.score,
        evidence_id=row.evidence_id,
        ip=row.ip,
        match=row.match,
    )
    return QaItem(
        id=row.id,
        action=action,
        sampled=row.sampled,
        status=row.status,
        via=row.via,
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else utc(row.decided_at),
        note=row.decision_note,
    )


@dataclass(frozen=True)
class StratumCount:
    stratum: tuple[str, str, str, str]
    actions: int
    sampled: int


class QaStore:
    def __init__(self, db: Database, audit: AuditLog, sampler: Sampler) -> None:
        self.db = db
        self.audit = audit
        self.sampler = sampler

    # --- recording ----------------------------------------------------------------------

    async def record(
        self, tx: AuditTransaction, action: AutomaticAction, sample: bool = True
    ) -> QaItem:
        """Record ``action`` inside ``tx`` and sample it (a sampled one is audited as
        ``qa.sampled``: it is now in the reviewers' queue). ``sample=False``: recorded for
        precision only, never queued (a hold: reviewers decide every one of them anyway,
        and :meth:`decided_by_review` counts that decision)."""
        since = utc(action.created_at) - self.sampler.window
        earlier = await tx.session.scalar(
            select(func.count())
            .select_from(QaRow)
            .where(
                QaRow.kind == action.kind,
                QaRow.source == action.source,
                QaRow.classifier == action.classifier,
                QaRow.reason == action.reason,
                QaRow.created_at > since,
            )
        )
        sampled = sample and self.sampler.draw(int(earlier or 0))
        status = "open" if sampled else "unsampled"
        item = QaItem("q_" + secrets.token_hex(8), action, sampled, status)
        tx.session.add(
            QaRow(
                id=item.id,
                kind=action.kind,
                source=action.source[:32],
                classifier=action.classifier[:64],
                reason=action.reason[:64],
                score=action.score,
                ref=action.ref,
                evidence_id=action.evidence_id,
                visitor=action.visitor,
                ip=action.ip,
                match=action.match,
                created_at=utc(action.created_at),
                sampled=sampled,
                status=item.status,
            )
        )
        await tx.session.flush()
        if sampled:
            await tx.append(
                SYSTEM_MODERATION,
                "qa.sampled",
                f"qa:{item.id}",
                f"QA sample of {action.kind} {action.ref}",
                {
                    "ref": action.ref,
                    "kind": action.kind,
                    "source": action.source,
                    "classifier": action.classifier,
                    "reason": action.reason,
                    "stratum_earlier": int(earlier or 0),
                },
            )
        return item

    async def automatic(self, action: AutomaticAction) -> QaItem:
        """Record ``action`` in a transaction of its own (e.g. a hold recorded elsewhere).
        Returns the stored item: ``sampled`` says whether it entered the queue."""

        async def work(tx: AuditTransaction) -> QaItem:
            return await self.record(tx, action)

        return await self.audit.run(work)

    # --- the queue ----------------------------------------------------------------------

    async def get(self, item_id: str) -> QaItem | None:
        async with self.db.sessions() as session:
            row = await session.get(QaRow, item_id)
        return None if row is None else qa_item(row)

    async def of_ref(self, ref: str) -> list[QaItem]:
        return [qa_item(r) for r in await self.db.rows(select(QaRow).where(QaRow.ref == ref))]

    async def queued(self, limit: int = 200) -> list[QaItem]:
        """Undecided QA items: escalated (unsure) first, then oldest first."""
        query = (
            select(QaRow)
            .where(QaRow.status.in_(OPEN_STATUSES))
            .order_by((QaRow.status != "escalated").asc(), QaRow.created_at)
            .limit(limit)
        )
        return [qa_item(row) for row in await self.db.rows(query)]

    @staticmethod
    async def decide(
        tx: AuditTransaction, item_id: str, status: QaStatus, by: str, note: str, now: datetime
    ) -> bool:
        """Move an undecided QA item to ``status`` inside ``tx``; ``False`` if it was
        decided already."""
        also = {} if status == "escalated" else {"via": "qa"}
        return await decide_case(tx, QaRow, item_id, status, by, note, now, **also)

    @staticmethod
    async def wrong_by_appeal(
        tx: AuditTransaction, ban_id: str, by: str, note: str, now: datetime
    ) -> list[str]:
        """An appeal overturned ban ``ban_id``: its automatic action, sampled or not,
        counts as ``wrong`` (an open QA item leaves the queue). Returns the items' ids."""
        where = (QaRow.ref == ban_id, QaRow.kind == "ban", QaRow.status != "wrong")
        return await _mark(tx, where, "wrong", "appeal", by, note, now)

    @staticmethod
    async def decided_by_review(
        tx: AuditTransaction, ref: str, correct: bool, by: str, note: str, now: datetime
    ) -> list[str]:
        """A reviewer decided the review item of automatic action ``ref`` (a hold's item
        id, or the id of a ban the item asked to confirm): upheld means the action was
        ``correct``, overturned means ``wrong`` (``via`` ``review``). Returns the QA items'
        ids."""
        where = (QaRow.ref == ref, QaRow.status.not_in(DECIDED))
        status = "correct" if correct else "wrong"
        return await _mark(tx, where, status, "review", by, note, now)

    # --- measuring ----------------------------------------------------------------------

    async def decided_since(self, since: datetime) -> list[QaItem]:
        """Items decided ``correct`` or ``wrong`` since ``since``."""
        query = select(QaRow).where(QaRow.status.in_(DECIDED), QaRow.decided_at >= utc(since))
        return [qa_item(row) for row in await self.db.rows(query)]

    async def counts_since(self, since: datetime) -> list[StratumCount]:
        """Per stratum: automatic actions since ``since`` and how many were sampled."""
        query = (
            select(
                QaRow.kind,
                QaRow.source,
                QaRow.classifier,
                QaRow.reason,
                func.count(),
                func.sum(cast(QaRow.sampled, Integer)),
            )
            .where(QaRow.created_at >= utc(since))
            .group_by(QaRow.kind, QaRow.source, QaRow.classifier, QaRow.reason)
        )
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            StratumCount((k, s, c, r), int(n), int(sampled or 0)) for k, s, c, r, n, sampled in rows
        ]


async def _mark(
    tx: AuditTransaction,
    where: tuple[ColumnElement[bool], ...],
    status: str,
    via: str,
    by: str,
    note: str,
    now: datetime,
) -> list[str]:
    """Decide every QA item matching ``where`` as ``status`` (by an appeal or a review,
    not a QA decision) inside ``tx``; returns their ids."""
    ids = list((await tx.session.execute(select(QaRow.id).where(*where))).scalars())
    if ids:
        await tx.session.execute(
            update(QaRow)
            .where(QaRow.id.in_(ids))
            .values(status=status, via=via, decided_by=by, decided_at=utc(now), decision_note=note)
        )
    return ids
