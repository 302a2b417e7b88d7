"""The queue and its items: list, next, open (claim), release, decide."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signaling.console.api.models import DecisionBody
from signaling.console.casefile import NotFound
from signaling.console.console import Console, console_of
from signaling.console.decisions import DecisionError
from signaling.console.queue import KINDS, Claimed, ItemKind
from signaling.console.sessions import Reviewer
from signaling.protocol.http import ApiError, read_json


def _item(request: Request) -> tuple[ItemKind, str]:
    kind = request.path_params["kind"]
    item_id = request.path_params["item"]
    if kind not in KINDS or not 0 < len(item_id) <= 40:
        raise ApiError(404, "not_found", "no such item")
    typed: ItemKind = kind
    return typed, item_id


async def _casefile(
    console: Console, kind: ItemKind, item_id: str, reviewer: Reviewer
) -> dict[str, Any]:
    """The item's casefile, once the reviewer holds its claim (409 if someone else does)."""
    try:
        casefile = await console.casefiles.open(kind, item_id, console.now())
    except NotFound:
        raise ApiError(404, "not_found", "no such item") from None
    try:
        claim = await console.queue.claim(kind, item_id, reviewer)
    except Claimed as exc:
        raise ApiError(409, "claimed", str(exc)) from None
    casefile["claim"] = {"by": claim.reviewer_name, "expires_at": claim.expires_at.isoformat()}
    return casefile


QUEUE_FILTERS = ("hold",)


async def queue(request: Request, reviewer: Reviewer) -> Response:
    """Undecided items in queue order, with who holds each. ``?filter=hold``: only holds
    (possible minors in explicit video, kept out of matching until decided)."""
    console = console_of(request)
    wanted = request.query_params.get("filter")
    if wanted is not None and wanted not in QUEUE_FILTERS:
        raise ApiError(400, "bad_filter", f"filter must be one of: {', '.join(QUEUE_FILTERS)}")
    now = console.now()
    entries = await console.queue.entries()
    if wanted == "hold":
        entries = [entry for entry in entries if entry.hold_until is not None]
    return JSONResponse(
        {"now": now.isoformat(), "items": [entry.as_dict(now) for entry in entries]}
    )


async def next_item(request: Request, reviewer: Reviewer) -> Response:
    """Claim and open the first item nobody else holds (``item: null`` when none)."""
    console = console_of(request)
    entry = await console.queue.next_for(reviewer)
    if entry is None:
        return JSONResponse({"item": None})
    return JSONResponse(await _casefile(console, entry.kind, entry.id, reviewer))


async def open_item(request: Request, reviewer: Reviewer) -> Response:
    """Claim (or renew the claim on) one item and return its casefile; 409 if taken."""
    kind, item_id = _item(request)
    return JSONResponse(await _casefile(console_of(request), kind, item_id, reviewer))


async def release_item(request: Request, reviewer: Reviewer) -> Response:
    kind, item_id = _item(request)
    await console_of(request).queue.release(kind, item_id, reviewer)
    return JSONResponse({"ok": True})


async def decide_item(request: Request, reviewer: Reviewer) -> Response:
    kind, item_id = _item(request)
    body = await read_json(request, DecisionBody)
    console = console_of(request)
    try:
        outcome = await console.decisions.decide(
            reviewer, kind, item_id, body.action, body.reason, body.duration_s
        )
    except DecisionError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return JSONResponse(outcome.as_dict())
