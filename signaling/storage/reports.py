"""Reports: a visitor tells us their partner broke the rules.

:meth:`ReportStore.file` is the Python API for filing a report; the room's
:class:`signaling.room.reports.ReportDesk` uses it through the
:class:`~signaling.room.reports.ReportSink` methods (:meth:`ReportStore.file_report`,
:meth:`ReportStore.resolve`, :meth:`ReportStore.purge_transcripts`). Reviewers list, open
and decide reports in the console. A report is a signal, never a verdict: filing one
changes nothing for the reported visitor until a reviewer (or moderation's own check,
audited as ``system:moderation``) acts. Chat text is stored only here, when a report attaches the
last messages of the match, and bounded (:data:`MAX_TRANSCRIPT_LINES` lines of at most
:data:`MAX_LINE_CHARS` characters).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import Text, cast, or_, select, update

from signaling.protocol import IMAGE_REASONS, ReportReason
from signaling.storage.audit import SYSTEM_MODERATION, AuditLog, AuditTransaction
from signaling.storage.cases import OPEN_STATUSES, decide_case
from signaling.storage.db import Database, utc
from signaling.storage.tables import ReportRow

REASONS: tuple[str, ...] = get_args(ReportReason)
"""Image reasons (:data:`IMAGE_REASONS`: what the camera shows) are HIGH priority."""
MAX_COMMENT_CHARS = 500
MAX_TRANSCRIPT_LINES = 50
MAX_LINE_CHARS = 2000
PURGE_BATCH = 1000
"""Reports examined per retention run (the job runs periodically; the rest come next)."""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()


Sender = Literal["reporter", "reported"]
"""Who sent a line of a report's transcript."""


@dataclass(frozen=True)
class Filing:
    """One report as the room files it (field names follow :class:`NewReport`)."""

    reporter_visitor: str
    reporter_ip: str
    reported_visitor: str
    reported_ip: str
    reason: ReportReason
    match: str | None = None
    comment: str = ""
    transcript: Sequence[tuple[Sender, str]] = ()
    """The last messages of the match, oldest first: (who sent it, text)."""
    reporter_session: str | None = None
    reported_session: str | None = None
    reported_device: str | None = None
    reporter_device: str | None = None
    matched_s: float | None = None
    """How long the reporter and the reported person were matched (``None``: unknown,
    counts as long enough)."""


@dataclass(frozen=True)
class NewReport:
    """What the room knows when a visitor reports their partner."""

    reporter_visitor: str
    reporter_ip: str
    reported_visitor: str
    reported_ip: str
    reason: ReportReason
    match: str | None = None
    comment: str = ""
    transcript: Sequence[tuple[Literal["reporter", "reported"], str]] = ()
    """The last messages of the match, oldest first: (who sent it, text)."""
    reporter_session: str | None = None
    reported_session: str | None = None
    reported_device: str | None = None


@dataclass(frozen=True)
class ReportRecord:
    id: str
    created_at: datetime
    reporter_visitor: str
    reporter_ip: str
    reported_visitor: str
    reported_ip: str
    reason: str
    priority: str
    status: str
    match: str | None = None
    comment: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    reporter_session: str | None = None
    reported_session: str | None = None
    reported_device: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "reporter": {
                "visitor": self.reporter_visitor,
                "ip": self.reporter_ip,
                "session": self.reporter_session,
            },
            "reported": {
                "visitor": self.reported_visitor,
                "ip": self.reported_ip,
                "session": self.reported_session,
                "device": self.reported_device,
            },
            "match": self.match,
            "reason": self.reason,
            "priority": self.priority,
            "status": self.status,
            "comment": self.comment,
            "transcript": self.transcript,
            "decided_by": self.decided_by,
            "decided_at": _iso(self.decided_at),
            "decision_note": self.decision_note,
        }


def _record(row: ReportRow) -> ReportRecord:
    return ReportRecord(
        id=row.id,
        created_at=utc(row.created_at),
        reporter_visitor=row.reporter_visitor,
        reporter_ip=row.reporter_ip,
        reported_visitor=row.reported_visitor,
        reported_ip=row.reported_ip,
        reason=row.reason,
        priority=row.priority,
        status=row.status,
        match=row.match,
        comment=row.comment,
        transcript=list(row.transcript),
        reporter_session=row.reporter_session,
        reported_session=row.reported_session,
        reported_device=row.reported_device,
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else utc(row.decided_at),
        decision_note=row.decision_note,
    )


class ReportStore:
    def __init__(self, db: Database, audit: AuditLog | None = None) -> None:
        """``audit``: the node's audit log (automatic resolutions are audited)."""
        self.db = db
        self.audit = audit or AuditLog(db)

    async def file(self, report: NewReport, now: datetime | None = None) -> ReportRecord:
        """Store a report (``ValueError`` for a reason not in :data:`REASONS`). Comment and
        transcript are cut to their bounds; image reasons get HIGH priority."""
        if report.reason not in REASONS:
            raise ValueError(f"unknown report reason {report.reason!r}")
        lines = [
            {
                "from": "reporter" if sender == "reporter" else "reported",
                "text": text[:MAX_LINE_CHARS],
            }
            for sender, text in list(report.transcript)[-MAX_TRANSCRIPT_LINES:]
        ]
        row = ReportRow(
            id="rp_" + secrets.token_hex(8),
            created_at=utc(now or self.audit.now()),
            reporter_visitor=report.reporter_visitor,
            reporter_ip=report.reporter_ip[:64],
            reporter_session=report.reporter_session,
            reported_visitor=report.reported_visitor,
            reported_ip=report.reported_ip[:64],
            reported_session=report.reported_session,
            reported_device=report.reported_device,
            match=report.match,
            reason=report.reason,
            comment=report.comment[:MAX_COMMENT_CHARS],
            transcript=lines,
            priority="high" if report.reason in IMAGE_REASONS else "normal",
            status="open",
        )
        async with self.db.sessions.begin() as session:
            session.add(row)
        return _record(row)

    # --- the room's ReportSink ---------------------------------------------------------

    async def file_report(self, filing: Filing) -> str:
        """Store the room's report (status ``open``); returns its id."""
        report = NewReport(
            reporter_visitor=filing.reporter_visitor,
            reporter_ip=filing.reporter_ip,
            reported_visitor=filing.reported_visitor,
            reported_ip=filing.reported_ip,
            reason=filing.reason,
            match=filing.match,
            comment=filing.comment,
            transcript=filing.transcript,
            reporter_session=filing.reporter_session,
            reported_session=filing.reported_session,
            reported_device=filing.reported_device,
        )
        return (await self.file(report)).id

    async def resolve(
        self, report_id: str, status: Literal["open", "actioned", "dismissed"], note: str
    ) -> None:
        """Moderation's automatic check decided an open report (audited). A report a
        reviewer decided meanwhile is left alone."""
        if status == "open":
            return
        final: Literal["actioned", "dismissed"] = status

        async def work(tx: AuditTransaction) -> None:
            now = self.audit.now()
            if await self.decide(tx, report_id, final, SYSTEM_MODERATION, note, now):
                await tx.append(SYSTEM_MODERATION, f"report.{final}", f"report:{report_id}", note)

        await self.audit.run(work)

    async def purge_transcripts(self, before: datetime) -> int:
        """Retention: drop the chat attached to reports filed before ``before`` that are
        decided (undecided ones keep it for their reviewer). Audited when any."""

        async def work(tx: AuditTransaction) -> int:
            with_chat = (
                select(ReportRow.id)
                .where(
                    ReportRow.created_at < utc(before),
                    ReportRow.status.not_in(OPEN_STATUSES),
                    cast(ReportRow.transcript, Text) != "[]",
                )
                .limit(PURGE_BATCH)
            )
            ids = list((await tx.session.execute(with_chat)).scalars())
            if not ids:
                return 0
            await tx.session.execute(
                update(ReportRow).where(ReportRow.id.in_(ids)).values(transcript=[])
            )
            await tx.append(
                SYSTEM_MODERATION,
                "report.transcripts_purged",
                f"reports:{len(ids)}",
                "retention",
                {"reports": ids, "before": utc(before).isoformat()},
            )
            return len(ids)

        return await self.audit.run(work)

    # --- reviewers ----------------------------------------------------------------------

    async def get(self, report_id: str) -> ReportRecord | None:
        async with self.db.sessions() as session:
            row = await session.get(ReportRow, report_id)
        return None if row is None else _record(row)

    async def listing(self, status: str | None = None, limit: int = 100) -> list[ReportRecord]:
        """Newest first, optionally with one status."""
        query = select(ReportRow).order_by(ReportRow.created_at.desc()).limit(min(limit, 500))
        if status is not None:
            query = query.where(ReportRow.status == status)
        return [_record(row) for row in await self.db.rows(query)]

    async def queued(self, limit: int = 200) -> list[ReportRecord]:
        """Undecided reports, HIGH priority first, then oldest first."""
        high_first = (ReportRow.priority != "high").asc()
        query = (
            select(ReportRow)
            .where(ReportRow.status.in_(OPEN_STATUSES))
            .order_by(high_first, ReportRow.created_at)
            .limit(limit)
        )
        return [_record(row) for row in await self.db.rows(query)]

    async def against(self, ip: str, visitor: str | None, limit: int = 20) -> list[ReportRecord]:
        """Reports about this IP (or visitor), newest first: a visitor's history."""
        covered = [ReportRow.reported_ip == ip]
        if visitor is not None:
            covered.append(ReportRow.reported_visitor == visitor)
        query = (
            select(ReportRow)
            .where(or_(*covered))
            .order_by(ReportRow.created_at.desc())
            .limit(limit)
        )
        return [_record(row) for row in await self.db.rows(query)]

    async def decide(
        self,
        tx: AuditTransaction,
        report_id: str,
        status: Literal["actioned", "dismissed", "escalated"],
        by: str,
        note: str,
        now: datetime,
    ) -> bool:
        """Move an undecided report to ``status`` inside ``tx``; ``False`` if it was
        decided already (by someone else, a moment ago)."""
        return await decide_case(
            tx,
            ReportRow,
            report_id,
            status,
            by,
            note,
            now,
            priority="high" if status == "escalated" else ReportRow.priority,
        )
