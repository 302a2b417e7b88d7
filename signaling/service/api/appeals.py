"""``POST /api/appeals`` and ``POST /api/appeals/status``: a banned visitor's appeal.

Both take the ban's appeal token from the ``banned`` event (see :mod:`signaling.door.appeals`).
No cookie is involved (the token is the credential, sent in the body), so there is nothing
for a cross-site request to ride on. Tokens travel in bodies, never in URLs (logs).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from signaling.door.appeals import AppealRefused, Appeals
from signaling.protocol.http import ApiError, read_json

_STATUS = {
    "bad_token": 404,
    "not_banned": 409,
    "already_appealed": 409,
    "empty": 400,
    "too_long": 400,
}


class _Token(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: Annotated[str, Field(min_length=1, max_length=120)]


class _Appeal(_Token):
    text: Annotated[str, Field(max_length=20_000)]


def _appeals(request: Request) -> Appeals:
    appeals: Appeals = request.app.state.services.appeals
    return appeals


def _refused(exc: AppealRefused) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 400), exc.code, exc.message)


async def file_appeal(request: Request) -> JSONResponse:
    body = await read_json(request, _Appeal)
    appeals = _appeals(request)
    ip = request.client.host if request.client else "unknown"
    try:
        await appeals.file(body.token, body.text, ip)
        state = await appeals.state(body.token)
    except AppealRefused as exc:
        raise _refused(exc) from None
    return JSONResponse(state.as_dict(), status_code=201, headers={"Cache-Control": "no-store"})


async def appeal_status(request: Request) -> JSONResponse:
    body = await read_json(request, _Token)
    try:
        state = await _appeals(request).state(body.token)
    except AppealRefused as exc:
        raise _refused(exc) from None
    return JSONResponse(state.as_dict(), headers={"Cache-Control": "no-store"})
