"""A visitor: one browser tab's WebSocket, for as long as it stays connected."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from signaling.protocol import Event, Mode, TypingEvent
from signaling.room.remote import RemoteVisitor

VisitorState = Literal["idle", "waiting", "matched", "closed"]
LookingSince = Literal["join", "requeue"]
EndReason = str
"""Why a match ended: ``next``, ``left``, ``disconnected``, ``ended`` (by the server)."""

CLOSE_POLICY = 1008
"""WebSocket close code "policy violation": the visitor is banned."""
CLOSE_TOO_SLOW = 1013
"""WebSocket close code "try again later": the browser did not read its events."""


@dataclass(frozen=True)
class Line:
    """One chat message of a match, kept in memory while the match (or a report window
    after it) lasts; stored only if attached to a report."""

    sender: str
    """Visitor id of the sender."""
    text: str
    """What the partner received (after sanitising and censoring)."""
    at: float
    """Clock time it was relayed."""


@dataclass(eq=False)
class Match:
    """Two visitors talking to each other (``b`` may be on another node)."""

    id: str
    mode: Mode
    a: Visitor
    b: Participant
    started_at: datetime
    started_clock: float
    """Clock time the match started (for durations)."""
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=20))
    """The last chat messages (bounded: ``reports.attached_messages``)."""
    ended_clock: float | None = None
    """Clock time the match ended (``None`` while it lasts)."""

    def partner_of(self, visitor: Participant) -> Participant:
        return self.b if visitor is self.a else self.a

    def local(self) -> list[Visitor]:
        """The visitors of this match whose sockets are on this node."""
        return [v for v in (self.a, self.b) if isinstance(v, Visitor)]


@dataclass(eq=False)
class Visitor:
    """Server-side state of one connected browser tab."""

    id: str
    ip: str
    outbox: asyncio.Queue[str | None]
    """Serialised events waiting to be written to the socket (bounded)."""
    session: str | None = None
    """Session id from the door's token (survives reconnects)."""
    device: str | None = None
    """Device id the browser keeps in its storage."""
    name: str | None = None
    """Optional display name (validated at the door; shown to partners as text)."""
    interests: tuple[str, ...] = ()
    """Normalised interests of the current join."""
    language: str | None = None
    """Primary language subtag of the current join."""
    audio: bool = True
    video: bool = True
    """Whether the visitor's microphone and camera are on (``media`` messages)."""
    last_match: Match | None = field(default=None, repr=False)
    """The match that ended last (reportable for ``reports.report_after_s``)."""
    reported_at: float = float("-inf")
    """Clock time of the visitor's last report (reports have a cooldown)."""
    typing_sent: bool | None = None
    """The last ``typing`` state relayed to the current partner (repeats are dropped)."""
    state: VisitorState = "idle"
    mode: Mode | None = None
    match: Match | None = None
    media: bool = False
    """Whether the visitor has a peer connection on the media plane (video mode)."""
    media_generation: int = 0
    """Bumped on every new peer connection and on closing it (stale offers are dropped)."""
    retry: asyncio.TimerHandle | None = field(default=None, repr=False)
    restarted_at: float = float("-inf")
    """Clock time of the last media restart (restarts are rate limited)."""
    looking_since: float | None = None
    """Clock time the visitor started looking for its next partner (for time-to-match)."""
    looking_after: LookingSince = "join"
    """What started that search: its ``join``, or a ``requeue`` after its match ended."""
    overflowed: bool = False
    """The browser read too slowly and its outbox filled up: it is being disconnected."""
    close_code: int | None = None
    """Set when the server closes the socket on purpose (1013 too slow, 1008 banned)."""
    media_barrier: asyncio.Future[None] | None = field(default=None, repr=False)
    """The media wiring the events queued so far depend on (a match began or ended): the
    socket writer waits for it before sending them, so a visitor told ``partner_left`` no
    longer receives that partner's frames (the wiring may be a round trip to an SFU
    worker process)."""

    @property
    def alive(self) -> bool:
        return self.state != "closed" and not self.overflowed

    def open_media(self) -> int:
        """A new peer connection is being made; returns its generation."""
        self.media = True
        self.media_generation += 1
        return self.media_generation

    def close_media(self) -> None:
        self.media = False
        self.media_generation += 1

    @property
    def limit_key(self) -> str:
        """Key of this visitor's per-visitor rate limits: its session (so that reconnecting
        does not reset them), else its visitor id."""
        return self.session or self.id

    def send(self, event: Event) -> None:
        """Queue ``event`` for the socket; a full outbox marks the visitor for disconnect.

        ``typing`` events are dropped instead once the outbox is half full: a partner's
        chatter must never get this visitor disconnected."""
        if not self.alive:
            return
        if isinstance(event, TypingEvent) and self.outbox.qsize() * 2 >= self.outbox.maxsize:
            return
        try:
            self.outbox.put_nowait(event.dump())
        except asyncio.QueueFull:
            self.overflowed = True
            self.close_code = CLOSE_TOO_SLOW
            # Make room for the sentinel that tells the writer to close the socket.
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)

    def send_json(self, event: dict[str, object]) -> None:
        """Queue an event that arrived already serialised (from another node)."""
        if not self.alive:
            return
        if event.get("type") == "typing" and self.outbox.qsize() * 2 >= self.outbox.maxsize:
            return
        try:
            self.outbox.put_nowait(json.dumps(event, separators=(",", ":")))
        except asyncio.QueueFull:
            self.overflowed = True
            self.close_code = CLOSE_TOO_SLOW
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)

    def close(self, code: int) -> None:
        """Close the socket with ``code`` once the events queued so far are written."""
        if self.close_code is not None:
            return
        self.close_code = code
        try:
            self.outbox.put_nowait(None)
        except asyncio.QueueFull:
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)


Participant = Visitor | RemoteVisitor
"""Either side of a match: a visitor of this node, or one on another node."""
