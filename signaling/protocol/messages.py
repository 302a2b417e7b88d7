"""Inbound messages of the ``/ws`` protocol: the pydantic models of what a browser may
send, and :func:`parse_client_message`, which returns one of them or raises
:class:`ProtocolError` with a stable ``code``."""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from duet.errors import CodedError

PROTOCOL_VERSION = 1

Mode = Literal["video", "text"]


class ProtocolError(CodedError):
    """An inbound message the server refuses; ``code`` is stable, ``message`` is for humans.
    ``retry_after``: seconds until a rate-limited kind of message is accepted again."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class Disconnect(ProtocolError):
    """The visitor broke the rules too often: refuse the message, then close the socket."""


class _Message(BaseModel):
    # Strict: "yes" is not a boolean and "1" is not a number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- client to server -----------------------------------------------------------------


ReportReason = Literal["nudity", "minor", "harassment", "hate", "spam", "other"]
IMAGE_REASONS: frozenset[str] = frozenset({"nudity", "minor"})
"""Reasons an image classifier can check on the reported visitor's live video."""

MAX_INTERESTS = 5


class Join(_Message):
    type: Literal["join"]
    mode: Mode
    interests: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_INTERESTS)
    ] = []
    """Up to five interest tags (normalised by the server: see ``signaling.room.interests``)."""
    language: Annotated[str, Field(max_length=16)] | None = None
    """A language code such as ``en`` or ``pt-BR`` (only the primary part is matched)."""


class Next(_Message):
    type: Literal["next"]


class Restart(_Message):
    """The browser's connection to the SFU failed: ask for a fresh offer (the match stays)."""

    type: Literal["restart"]


class Leave(_Message):
    type: Literal["leave"]


class Answer(_Message):
    type: Literal["answer"]
    sdp: Annotated[str, Field(min_length=1, max_length=60_000)]


class IceCandidate(_Message):
    """An ICE candidate as the browser's ``RTCIceCandidate.toJSON()`` gives it.

    An empty ``candidate`` string is the end-of-candidates marker."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    candidate: Annotated[str, Field(max_length=1024)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None


class Candidate(_Message):
    type: Literal["candidate"]
    candidate: IceCandidate | None


class Chat(_Message):
    type: Literal["chat"]
    text: Annotated[str, Field(min_length=1)]


class Typing(_Message):
    type: Literal["typing"]
    on: bool


class Media(_Message):
    """The visitor turned its camera or microphone on or off (the partner is told)."""

    type: Literal["media"]
    audio: bool
    video: bool


class Report(_Message):
    """Report the current partner (or the last one, shortly after the match ended)."""

    type: Literal["report"]
    reason: ReportReason
    comment: Annotated[str, Field(max_length=2_000)] = ""


class Block(_Message):
    """Never be matched with the current (or last) partner again."""

    type: Literal["block"]


class Ping(_Message):
    """Keeps the connection alive (answered with ``pong``)."""

    type: Literal["ping"]


ClientMessage = Annotated[
    Join
    | Next
    | Leave
    | Restart
    | Answer
    | Candidate
    | Chat
    | Typing
    | Media
    | Report
    | Block
    | Ping,
    Field(discriminator="type"),
]

CLIENT_TYPES = frozenset(
    {
        "join",
        "next",
        "leave",
        "restart",
        "answer",
        "candidate",
        "chat",
        "typing",
        "media",
        "report",
        "block",
        "ping",
    }
)

# mypy cannot see through Annotated[Union, Field] here; pydantic handles it at run time.
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)  # type: ignore[arg-type, unused-ignore]


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """Validate one inbound frame; raise :class:`ProtocolError` with a stable code."""
    if isinstance(raw, bytes):
        raise ProtocolError("binary_not_supported", "send JSON text frames, not binary")
    try:
        data = json.loads(
            raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except (ValueError, RecursionError):
        # JSONDecodeError is a ValueError; so is whatever a number hook lets through.
        raise ProtocolError("bad_json", "the message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "a message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "a message needs a string 'type'")
    if kind not in CLIENT_TYPES:
        shown = kind[:40]
        raise ProtocolError("unknown_type", f"unknown message type {shown!r}")
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError("invalid_message", _summarise(exc)) from None


MAX_INT_DIGITS = 20
"""No field takes an integer longer than this (a 64-bit integer has at most 20 digits with
its sign); longer ones are refused before Python converts them (which is quadratic, and
raises past ``sys.get_int_max_str_digits()``)."""


def _parse_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ProtocolError("bad_number", f"integers have at most {MAX_INT_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 64:
        raise ProtocolError("bad_number", "numbers have at most 64 characters")
    value = float(text)
    if not math.isfinite(value):
        raise ProtocolError("bad_number", "numbers must be finite (1e400 is not)")
    return value


def _parse_constant(name: str) -> float:
    raise ProtocolError("bad_number", f"{name} is not JSON: numbers must be finite")


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"][1:]) or "message"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


# --- server to client -----------------------------------------------------------------
