"""Records reviewers browse and act on: evidence images, bans, reports, appeals, the
audit log and "recent decisions"."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from signaling.console.api.models import NewBan, WithReason
from signaling.console.casefile import ban_dict
from signaling.console.console import console_of
from signaling.console.decisions import DecisionError
from signaling.console.sessions import Reviewer
from signaling.protocol.http import ApiError, read_json
from signaling.storage.bans import BanFilter

DECISION_ACTIONS = (
    "review.upheld",
    "review.overturned",
    "review.escalated",
    "report.actioned",
    "report.dismissed",
    "report.escalated",
    "appeal.upheld",
    "appeal.overturned",
    "appeal.escalated",
    "qa.correct",
    "qa.wrong",
    "qa.escalated",
    "ban.created",
    "ban.lifted",
    "visitor.disconnected",
)
"""Audit actions shown as "recent decisions" (by reviewers and by moderation)."""


def _limit(request: Request, default: int = 100, most: int = 500) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit():
        raise ApiError(400, "invalid", "limit: a whole number")
    return max(1, min(int(raw), most))


def _param(request: Request, name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and (len(value) > 64 or (allowed and value not in allowed)):
        raise ApiError(400, "invalid", f"{name}: not a valid value")
    return value


async def evidence_image(request: Request, reviewer: Reviewer) -> Response:
    """An evidence frame (``blurred`` or ``original``) or ``clip`` (WebM), for logged-in
    reviewers only, never cached. Viewing the original or the clip is audited (the
    console blurs a clip with CSS, so every load of one counts as viewing it)."""
    console = console_of(request)
    evidence_id = request.path_params["evidence"]
    variant = request.path_params["variant"]
    if variant not in ("blurred", "original", "clip") or len(evidence_id) > 40:
        raise ApiError(404, "not_found", "no such evidence")
    record = await console.decisions.reviews.evidence(evidence_id)
    name: str | None = None
    if record is not None and variant == "clip":
        clip = record.details.get("clip")
        name = clip.get("path") if isinstance(clip, dict) else None
    elif record is not None:
        name = record.blurred_path if variant == "blurred" else record.path
    if record is None or record.kind != "frame" or not isinstance(name, str) or not name:
        raise ApiError(404, "not_found", "no such evidence")
    root = console.evidence_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ApiError(404, "not_found", "the evidence file is gone")
    if variant != "blurred":
        await console.audit.record(
            reviewer.actor, "evidence.viewed", f"evidence:{evidence_id}", "", {"variant": variant}
        )
    return FileResponse(
        path,
        media_type="video/webm" if variant == "clip" else "image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        },
    )


async def bans(request: Request, reviewer: Reviewer) -> Response:
    """Bans, newest first: ``?state=active|expired|lifted&ip=&session=&device=&visitor=``."""
    console = console_of(request)
    state = _param(request, "state", ("active", "expired", "lifted"))
    where = BanFilter(
        state=state,  # type: ignore[arg-type]
        ip=_param(request, "ip"),
        session=_param(request, "session"),
        device=_param(request, "device"),
        visitor=_param(request, "visitor"),
    )
    now = console.now()
    found = await console.bans.listing(now, where, _limit(request))
    return JSONResponse({"bans": [ban_dict(b, now) for b in found]})


async def create_ban(request: Request, reviewer: Reviewer) -> Response:
    body = await read_json(request, NewBan)
    console = console_of(request)
    try:
        ban = await console.banning.by_hand(
            reviewer,
            body.reason,
            body.duration_s,
            ip=body.ip,
            visitor=body.visitor,
            session=body.session,
            device=body.device,
        )
    except DecisionError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return JSONResponse(ban_dict(ban, console.now()), status_code=201)


async def lift_ban(request: Request, reviewer: Reviewer) -> Response:
    body = await read_json(request, WithReason)
    ban_id = request.path_params["ban"]
    try:
        await console_of(request).banning.unban(reviewer, ban_id[:40], body.reason)
    except DecisionError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return JSONResponse({"ok": True})


async def reports(request: Request, reviewer: Reviewer) -> Response:
    """Reports, newest first: ``?status=open|escalated|actioned|dismissed``."""
    status = _param(request, "status", ("open", "escalated", "actioned", "dismissed"))
    found = await console_of(request).reports.listing(status, _limit(request))
    return JSONResponse({"reports": [r.as_dict() for r in found]})


async def appeals(request: Request, reviewer: Reviewer) -> Response:
    """Appeals, newest first: ``?status=open|escalated|upheld|overturned``."""
    status = _param(request, "status", ("open", "escalated", "upheld", "overturned"))
    found = await console_of(request).appeals.listing(status, _limit(request))
    return JSONResponse({"appeals": [a.as_dict() for a in found]})


async def recent_decisions(request: Request, reviewer: Reviewer) -> Response:
    """The latest decisions and bans, by reviewers and by moderation, newest first."""
    entries = await console_of(request).audit.recent(_limit(request, 30), DECISION_ACTIONS)
    return JSONResponse({"decisions": [e.as_dict() for e in entries]})


async def audit_log(request: Request, reviewer: Reviewer) -> Response:
    """The whole audit log, newest first, a page at a time (``?before=SEQ&limit=``)."""
    before = request.query_params.get("before")
    if before is not None and not before.isdigit():
        raise ApiError(400, "invalid", "before: a whole number")
    entries = await console_of(request).audit.recent(
        _limit(request), before_seq=None if before is None else int(before)
    )
    return JSONResponse({"entries": [e.as_dict() for e in entries]})
