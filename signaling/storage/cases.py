"""What review items, reports, appeals and QA items share as cases a reviewer decides.

A case is undecided while its status is ``open`` or ``escalated``. A decision moves it on
once: the update only matches an undecided row, so two reviewers racing for the same case
cannot both decide it (the loser sees ``False``). Escalating keeps it undecided (no
``decided_by`` / ``decided_at``) but records the note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update

from signaling.storage.audit import AuditTransaction
from signaling.storage.db import utc
from signaling.storage.tables import AppealRow, QaRow, ReportRow, ReviewRow

OPEN_STATUSES = ("open", "escalated")

CaseRow = type[ReviewRow] | type[ReportRow] | type[AppealRow] | type[QaRow]


async def decide_case(
    tx: AuditTransaction,
    table: CaseRow,
    case_id: str,
    status: str,
    by: str,
    note: str,
    now: datetime,
    **also: Any,
) -> bool:
    """Move an undecided case of ``table`` to ``status`` inside ``tx`` (``also``: more
    columns to set); ``False`` if it was decided already (by someone else, a moment ago)."""
    final = status != "escalated"
    result = await tx.session.execute(
        update(table)
        .where(table.id == case_id, table.status.in_(OPEN_STATUSES))
        .values(
            status=status,
            decided_by=by if final else None,
            decided_at=utc(now) if final else None,
            decision_note=note,
            **also,
        )
    )
    return bool(getattr(result, "rowcount", 0))
