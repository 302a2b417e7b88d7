"""JSON errors and bounded JSON bodies for the HTTP API.

Endpoints raise :class:`ApiError`; the app turns it into ``{"error": code, "message": ...}``
with its status. :func:`read_json` reads at most ``limit`` bytes of an ``application/json``
body and validates it with a pydantic model: oversized, non-JSON or invalid bodies become
400/413/415 errors, never exceptions.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from duet.errors import CodedError

MAX_BODY_BYTES = 64 * 1024

M = TypeVar("M", bound=BaseModel)


class ApiError(CodedError):
    """An HTTP refusal: ``status``, and ``headers`` to send with it."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers or {}


async def api_error_response(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`ApiError` (registered on the app)."""
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise exc
    headers = {"Cache-Control": "no-store", **exc.headers}
    return JSONResponse(
        {"error": exc.code, "message": exc.message}, status_code=exc.status, headers=headers
    )


async def read_json(request: Request, model: type[M], limit: int = MAX_BODY_BYTES) -> M:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "too_large", f"the body is limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"the body is limited to {limit} bytes")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for error in exc.errors()[:3]:
            where = ".".join(str(p) for p in error["loc"]) or "body"
            parts.append(f"{where}: {error['msg']}")
        raise ApiError(400, "invalid", "; ".join(parts)) from None
