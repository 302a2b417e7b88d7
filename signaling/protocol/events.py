"""Outbound events of the ``/ws`` protocol: what the server sends, typed."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticSerializationError

from signaling.protocol.messages import PROTOCOL_VERSION, Mode, ReportReason


class Event(BaseModel):
    """Base of server events; ``dump()`` gives the JSON text sent to the browser."""

    model_config = ConfigDict(frozen=True)

    def dump(self) -> str:
        try:
            return self.model_dump_json()
        except PydanticSerializationError:
            # A lone surrogate (a JSON "\\ud800" escape echoed back, e.g. an unknown type
            # in an error message) cannot be UTF-8: escape it instead of failing.
            return json.dumps(self.model_dump(), ensure_ascii=True)


class WelcomeEvent(Event):
    type: Literal["welcome"] = "welcome"
    visitor: str
    protocol: int = PROTOCOL_VERSION
    limits: dict[str, int]
    resume: str | None = None
    """Give it back as ``/ws?resume=...`` after a dropped socket to keep this visitor id."""


class QueuedEvent(Event):
    type: Literal["queued"] = "queued"
    mode: Mode


class OfferEvent(Event):
    type: Literal["offer"] = "offer"
    sdp: str
    restart: bool = False
    """True when the offer replaces a failed connection: answer it on a new peer connection."""


class CandidateEvent(Event):
    type: Literal["candidate"] = "candidate"
    candidate: dict[str, Any] | None


class MatchedEvent(Event):
    type: Literal["matched"] = "matched"
    match: str
    mode: Mode
    interests: list[str] = []
    """Interests both visitors gave (empty when none are shared)."""
    partner_name: str | None = None
    """The partner's display name, if it chose one (render it as text, never HTML)."""


class PartnerLeftEvent(Event):
    type: Literal["partner_left"] = "partner_left"
    reason: Literal["next", "left", "disconnected", "ended"]
    """``ended``: the server ended the match (never says why: a partner's ban is private)."""


class ChatEvent(Event):
    type: Literal["chat"] = "chat"
    text: str


class TypingEvent(Event):
    type: Literal["typing"] = "typing"
    on: bool


class MediaEvent(Event):
    """The partner's camera (``video``) or microphone (``audio``) is on or off."""

    type: Literal["media"] = "media"
    audio: bool
    video: bool


class VideoStateEvent(Event):
    """Where a pre-screened video stands (``moderation.prescreen``), sent at each change.

    ``side = "own"``: the visitor's own video to its partner -- ``checking`` (held until
    a frame of it was checked), ``face_required`` (held until a face is seen:
    ``moderation.require_face``) or ``open`` (the partner sees it). ``side = "partner"``:
    the partner's video to the visitor -- ``checking``, ``waiting`` (the partner was asked
    to show their face) or ``open``. A held video stays ``checking`` for the partner:
    why is never said."""

    type: Literal["video_state"] = "video_state"
    side: Literal["own", "partner"]
    state: Literal["checking", "face_required", "waiting", "open"]


class ReportedEvent(Event):
    """The visitor's report was received (what happens next is never said)."""

    type: Literal["reported"] = "reported"
    reason: ReportReason


class BlockedEvent(Event):
    """The partner is blocked: the match ended and they will never be matched again."""

    type: Literal["blocked"] = "blocked"


class PongEvent(Event):
    type: Literal["pong"] = "pong"


class ErrorEvent(Event):
    type: Literal["error"] = "error"
    code: str
    message: str
    retry_after: float | None = None
    """For ``rate_limited``: seconds until the refused kind of message is accepted again."""


class WarningEvent(Event):
    """A chat message was flagged: it reached the partner censored."""

    type: Literal["warning"] = "warning"
    reason: str
    message: str
    strikes: int
    """Flagged messages in the current window."""
    strikes_to_ban: int


class HeldEvent(Event):
    """The visitor's video was stopped for a moderator to look at (a possible minor in
    explicit video). Not a ban: the socket stays open, but ``join`` is refused (``held``)
    until ``until`` or until a moderator decides. ``released``: a moderator cleared it,
    the visitor may join again now."""

    type: Literal["held"] = "held"
    until: str
    """End of the hold at the latest, ISO 8601 in UTC."""
    released: bool = False


AppealStatus = Literal["none", "pending", "upheld"]


class AppealInfo(BaseModel):
    """How a banned visitor can appeal (``POST /api/appeals``), and where that stands."""

    model_config = ConfigDict(frozen=True)

    token: str | None
    """Unguessable token of this ban: proves the appeal comes from the banned visitor.
    ``None`` for anyone else the ban covers only by sharing the IP address (they cannot
    appeal someone else's ban)."""
    status: AppealStatus
    """``none``: not appealed yet; ``pending``: a reviewer will look at it; ``upheld``: a
    reviewer confirmed the ban (one appeal per ban)."""
    max_length: int
    """Longest appeal text accepted, in characters."""


class BannedEvent(Event):
    """The visitor is banned; the server closes the socket right after this event."""

    type: Literal["banned"] = "banned"
    reason: str
    until: str
    """End of the ban, ISO 8601 in UTC."""
    ban: str
    """Ban id."""
    appeal: AppealInfo
