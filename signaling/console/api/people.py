"""Admin only: live visitors and matches (with force-disconnect) and reviewer accounts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signaling.console import accounts as account_actions
from signaling.console import live
from signaling.console.api.models import Disable, NewAccount, WithReason
from signaling.console.console import console_of
from signaling.console.sessions import Reviewer
from signaling.protocol.http import ApiError, read_json
from signaling.storage.accounts import NameTaken


async def live_view(request: Request, reviewer: Reviewer) -> Response:
    return JSONResponse(live.snapshot(console_of(request).lobby))


async def disconnect(request: Request, reviewer: Reviewer) -> Response:
    """End a visitor's connection now (it may reconnect: ban it to keep it out)."""
    body = await read_json(request, WithReason)
    console = console_of(request)
    visitor = request.path_params["visitor"][:40]
    if not await live.disconnect(console.lobby, visitor):
        raise ApiError(404, "not_found", "that visitor is not connected")
    await console.audit.record(
        reviewer.actor, "visitor.disconnected", f"visitor:{visitor}", body.reason
    )
    return JSONResponse({"ok": True})


async def accounts(request: Request, reviewer: Reviewer) -> Response:
    found = await console_of(request).accounts.all()
    return JSONResponse({"accounts": [a.as_dict() for a in found]})


async def create_account(request: Request, reviewer: Reviewer) -> Response:
    body = await read_json(request, NewAccount)
    console = console_of(request)
    try:
        account = await account_actions.create_account(
            console.audit,
            console.accounts,
            console.passwords,
            body.name,
            body.role,
            body.password,
            console.settings.min_password_length,
            reviewer.actor,
        )
    except account_actions.AccountError as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    except NameTaken:
        raise ApiError(409, "name_taken", "an account with that name exists") from None
    return JSONResponse(account.as_dict(), status_code=201)


async def set_disabled(request: Request, reviewer: Reviewer) -> Response:
    body = await read_json(request, Disable)
    console = console_of(request)
    account = await console.accounts.get(request.path_params["account"][:40])
    if account is None:
        raise ApiError(404, "not_found", "no such account")
    if account.id == reviewer.account.id:
        raise ApiError(409, "conflict", "you cannot disable your own account")
    await account_actions.set_disabled(
        console.audit, console.accounts, account, body.disabled, body.reason, reviewer.actor
    )
    return JSONResponse({"ok": True})


async def dashboard(request: Request, reviewer: Reviewer) -> Response:
    return JSONResponse(await console_of(request).dashboard.snapshot())
