"""Everything a reviewer needs to decide one queue item, as JSON-ready data.

The item itself; its evidence (verdict scores, boxes and the frame's size, or the flagged
messages; image URLs under ``/api/admin/evidence/``, never a public path); for appeals,
the ban appealed; and the visitor's history: earlier bans, reports against them, appeals
and review items, found by IP or visitor id (session and device once visitors have them),
at most :data:`HISTORY` of each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moderation.records import BanRecord, EvidenceRecord, ReviewItem
from signaling.console.queue import ItemKind
from signaling.storage.appeals import AppealStore
from signaling.storage.bans import BanStore
from signaling.storage.qa import QaStore
from signaling.storage.reports import ReportStore
from signaling.storage.reviews import ReviewStore

HISTORY = 20


class NotFound(Exception):
    pass


def ban_dict(ban: BanRecord, now: datetime) -> dict[str, Any]:
    state = "lifted" if ban.lifted_at is not None else ("active" if ban.until > now else "expired")
    return {
        "id": ban.id,
        "visitor": ban.visitor,
        "ip": ban.ip,
        "session": ban.session,
        "device": ban.device,
        "reason": ban.reason,
        "source": ban.source,
        "created_at": ban.created_at.isoformat(),
        "until": ban.until.isoformat(),
        "evidence": ban.evidence_id,
        "created_by": ban.created_by,
        "lifted_at": None if ban.lifted_at is None else ban.lifted_at.isoformat(),
        "state": state,
    }


def review_dict(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "visitor": item.visitor,
        "ip": item.ip,
        "match": item.match,
        "priority": item.priority,
        "reason": item.reason,
        "created_at": item.created_at.isoformat(),
        "evidence": item.evidence_id,
        "status": item.status,
        "hold_until": None if item.hold_until is None else item.hold_until.isoformat(),
    }


def evidence_dict(evidence: EvidenceRecord) -> dict[str, Any]:
    details = evidence.details
    data: dict[str, Any] = {
        "id": evidence.id,
        "kind": evidence.kind,
        "visitor": evidence.visitor,
        "match": evidence.match,
        "created_at": evidence.created_at.isoformat(),
        "sha256": evidence.sha256,
        "reason": evidence.reason,
    }
    if evidence.kind == "frame":
        verdict = details.get("verdict", {})
        shape = details.get("shape", [0, 0])
        data.update(
            {
                "width": int(shape[1]) if len(shape) > 1 else 0,
                "height": int(shape[0]) if shape else 0,
                "verdict": {
                    key: verdict.get(key)
                    for key in ("unsafe", "minor", "score", "reason", "source", "faces", "boxes")
                },
                "images": {
                    "blurred": f"/api/admin/evidence/{evidence.id}/blurred",
                    "original": f"/api/admin/evidence/{evidence.id}/original",
                },
            }
        )
        clip = details.get("clip")
        if isinstance(clip, dict):
            data["clip"] = {
                "url": f"/api/admin/evidence/{evidence.id}/clip",
                "sha256": clip.get("sha256"),
                "bytes": clip.get("bytes"),
            }
    else:
        data["messages"] = [str(m) for m in details.get("messages", [])]
    return data


class Casefiles:
    def __init__(
        self,
        reviews: ReviewStore,
        reports: ReportStore,
        appeals: AppealStore,
        bans: BanStore,
        qa: QaStore | None = None,
    ) -> None:
        self.reviews = reviews
        self.reports = reports
        self.appeals = appeals
        self.bans = bans
        self.qa = qa

    async def open(self, kind: ItemKind, item_id: str, now: datetime) -> dict[str, Any]:
        """The item's casefile; :class:`NotFound` if there is no such item."""
        if kind == "review":
            return await self._review(item_id, now)
        if kind == "report":
            return await self._report(item_id, now)
        if kind == "qa":
            return await self._qa(item_id, now)
        return await self._appeal(item_id, now)

    async def _qa(self, item_id: str, now: datetime) -> dict[str, Any]:
        """A QA sample: the automatic action, its ban (for a ban), its evidence (frame with
        verdict and boxes, or chat messages) and the visitor's history (reports with their
        chat transcripts among it)."""
        item = None if self.qa is None else await self.qa.get(item_id)
        if item is None or not item.sampled:
            raise NotFound(item_id)
        action = item.action
        ban = await self.bans.get(action.ref) if action.kind == "ban" else None
        evidence = None
        if action.evidence_id is not None:
            evidence = await self.reviews.evidence(action.evidence_id)
        return {
            "kind": "qa",
            "item": item.as_dict(),
            "ban": None if ban is None else ban_dict(ban, now),
            "evidence": None if evidence is None else evidence_dict(evidence),
            "history": await self.history(action.ip, action.visitor, now, skip=action.ref),
        }

    async def _review(self, item_id: str, now: datetime) -> dict[str, Any]:
        item = await self.reviews.get(item_id)
        if item is None:
            raise NotFound(item_id)
        evidence = await self.reviews.evidence(item.evidence_id)
        return {
            "kind": "review",
            "item": review_dict(item),
            "evidence": None if evidence is None else evidence_dict(evidence),
            "history": await self.history(item.ip, item.visitor, now, skip=item.id),
        }

    async def _report(self, item_id: str, now: datetime) -> dict[str, Any]:
        report = await self.reports.get(item_id)
        if report is None:
            raise NotFound(item_id)
        return {
            "kind": "report",
            "item": report.as_dict(),
            "evidence": None,
            "history": await self.history(
                report.reported_ip, report.reported_visitor, now, skip=report.id
            ),
        }

    async def _appeal(self, item_id: str, now: datetime) -> dict[str, Any]:
        appeal = await self.appeals.get(item_id)
        if appeal is None:
            raise NotFound(item_id)
        ban = await self.bans.get(appeal.ban_id)
        evidence = None
        if ban is not None and ban.evidence_id is not None:
            evidence = await self.reviews.evidence(ban.evidence_id)
        history = (
            await self.history(ban.ip, ban.visitor, now, skip=appeal.id) if ban is not None else {}
        )
        return {
            "kind": "appeal",
            "item": appeal.as_dict(),
            "ban": None if ban is None else ban_dict(ban, now),
            "evidence": None if evidence is None else evidence_dict(evidence),
            "history": history,
        }

    async def history(
        self, ip: str | None, visitor: str, now: datetime, skip: str = ""
    ) -> dict[str, list[dict[str, Any]]]:
        """Earlier bans, reports, appeals and review items of this IP or visitor."""
        bans = await self.bans.of(ip, visitor, HISTORY) if ip else []
        reports = await self.reports.against(ip, visitor, HISTORY) if ip else []
        reviews = await self.reviews.of(ip, visitor, HISTORY)
        appeals = await self.appeals.for_bans([b.id for b in bans])
        return {
            "bans": [ban_dict(b, now) for b in bans],
            "reports": [r.as_dict() for r in reports if r.id != skip],
            "appeals": [a.as_dict() for a in appeals if a.id != skip],
            "reviews": [review_dict(r) for r in reviews if r.id != skip],
        }
