"""The lobby: visitors join, get matched, talk, press Next, leave.

It turns validated protocol messages into state changes and events. It owns the visitors
of this process, the :class:`~signaling.room.matching.Matchmaker`, and the SFU router wiring
of matched video visitors. Single process: the source of truth for who is connected, waiting
and matched is this object's state; nothing else mutates it.

The handlers live next to it, one module per concern: :mod:`~signaling.room.pairing`
(queue, pair, start and end matches), :mod:`~signaling.room.connection` (the peer
connection), :mod:`~signaling.room.talk` (chat, typing, media state) and
:mod:`~signaling.room.reporting` (reports, blocks). Several nodes plug in through a
:class:`~signaling.room.crossing.Crossing`, which uses only this class's public methods.

Every handler runs on the event loop. A handler that awaits (SDP work) re-checks the
visitor's state afterwards, because the visitor may have left meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pyee.asyncio import AsyncIOEventEmitter

from duet.clock import SYSTEM_CLOCK
from duet.person import Person
from duet.tasks import TaskSet
from moderation import Moderation
from sfu.plane import MediaPlane
from signaling.config.keys import KeyRing
from signaling.config.settings import Settings
from signaling.door.resume import resume_token
from signaling.protocol import (
    Answer,
    BannedEvent,
    Block,
    Candidate,
    Chat,
    ClientMessage,
    Disconnect,
    ErrorEvent,
    Event,
    HeldEvent,
    Join,
    Leave,
    Media,
    Mode,
    Next,
    OfferEvent,
    Ping,
    PongEvent,
    ProtocolError,
    Report,
    Restart,
    Typing,
    WelcomeEvent,
)
from signaling.room import connection, pairing, reporting, talk
from signaling.room.blocks import Blocks
from signaling.room.crossing import Crossing
from signaling.room.interests import normalise_interests, normalise_language
from signaling.room.matching import Matchmaker
from signaling.room.pace import Pace
from signaling.room.partners import RemotePartners
from signaling.room.reports import ReportDesk
from signaling.room.visitor import CLOSE_POLICY, EndReason, Match, Participant, Visitor
from signaling.room.wiring import Wiring
from signaling.storage import MatchStore
from signaling.storage.writer import BackgroundWriter

logger = logging.getLogger(__name__)


class Lobby(AsyncIOEventEmitter):
    """Visitors, queues and matches of this process.

    Events: ``"match_started"`` (match), ``"match_ended"`` (match, reason),
    ``"media_rewired"`` (match, visitor: its outbound media was connected anew),
    ``"remote_video_open"`` (match, visitor, keyframe: a partner on another node was
    pre-screened safe there),
    ``"visitor_arrived"`` and ``"visitor_left"`` (visitor), ``"refused"`` (visitor, error
    code) -- for moderation schedules, presence and metrics.
    """

    def __init__(
        self,
        settings: Settings,
        media: MediaPlane,
        matches: MatchStore,
        writer: BackgroundWriter,
        clock: Callable[[], float],
        wall: Callable[[], datetime] = SYSTEM_CLOCK.wall,
        keys: KeyRing | None = None,
        pace: Pace | None = None,
        crossing: Callable[[Lobby], Crossing] | None = None,
        moderation: Callable[[Lobby], Moderation] | None = None,
        reports: Callable[[Lobby], ReportDesk] | None = None,
    ) -> None:
        """``clock``, ``wall``: the node clock's monotonic seconds and UTC wall time (match
        dates). ``keys``: the node's key ring (resume tokens); ``None``: a random key for
        this lobby only (tests). ``pace``: per-visitor rate limits (``None``: unlimited).
        ``crossing``: several nodes: builds, from this lobby, the side through which
        matching, blocks and partners on other nodes go (Redis); ``None``: one node.
        ``moderation`` then ``reports``: build, from this lobby, what checks chat and
        holds (moderation's enforcer acts on the lobby) and where reports go; ``None``:
        unmoderated, reports refused. They are called in that order, after the crossing,
        so each may read what was built before it."""
        super().__init__()
        self.settings = settings
        self.media = media
        self.wiring = Wiring(media)
        self.matches = matches
        self.writer = writer
        self.clock, self.wall = clock, wall
        self.visitors: dict[str, Visitor] = {}
        self.keys = keys or KeyRing.ephemeral()
        self._secret = self.keys.raw[0]
        self.blocks = Blocks(
            settings.blocks.ttl_s,
            settings.blocks.ip_ttl_s,
            clock,
            max_per_blocker=settings.blocks.max_per_visitor,
        )
        self.matchmaker = Matchmaker(
            clock=clock,
            rematch_cooldown=settings.matching.rematch_cooldown_s,
            preference_wait=settings.matching.preference_wait_s,
            compatible=self._compatible,
        )
        self.tasks = TaskSet()
        self.pace = pace
        self.remote = RemotePartners(self)
        """Partners on other nodes: what their nodes tell this one."""
        self.shared: Crossing | None = None if crossing is None else crossing(self)
        """Several nodes: matching, blocks and partners on other nodes go through Redis
        (``None``: one node)."""
        self.moderation: Moderation | None = None if moderation is None else moderation(self)
        self.reports: ReportDesk | None = None if reports is None else reports(self)

    # --- connection lifecycle ----------------------------------------------------------

    def connect(
        self,
        ip: str,
        session: str | None = None,
        device: str | None = None,
        name: str | None = None,
        visitor_id: str | None = None,
    ) -> Visitor:
        """Register a new visitor (with the door's session, device id and display name)
        and greet it. ``visitor_id``: a resumed visit's id (ignored if it is connected)."""
        if visitor_id is None or visitor_id in self.visitors:
            visitor_id = pairing.new_id("v_")
        visitor = Visitor(
            id=visitor_id,
            ip=ip,
            outbox=asyncio.Queue(maxsize=self.settings.outbox_size),
            session=session,
            device=device,
            name=name,
        )
        self.visitors[visitor.id] = visitor
        visitor.send(
            WelcomeEvent(
                visitor=visitor.id,
                limits={
                    "chat_max_length": self.settings.chat.max_length,
                    "max_message_bytes": self.settings.max_message_bytes,
                },
                resume=resume_token(self._secret, visitor.id, session),
            )
        )
        self.emit("visitor_arrived", visitor)
        logger.info("visitor connected", extra={"visitor": visitor.id})
        return visitor

    async def disconnect(self, visitor: Visitor) -> None:
        """The socket is gone: end everything the visitor had."""
        if visitor.state == "closed":
            return
        await self.stop(visitor, reason="disconnected")
        visitor.state = "closed"
        visitor.last_match = None
        self.matchmaker.forget(visitor.id)
        self.visitors.pop(visitor.id, None)
        self.emit("visitor_left", visitor)
        logger.info("visitor disconnected", extra={"visitor": visitor.id})

    async def ban(self, visitor_id: str, event: BannedEvent) -> bool:
        """Remove a banned visitor now: its media stops (the SFU unlinks it at once), its
        partner gets ``partner_left`` (reason ``ended``, never the ban) and is re-queued, it
        gets ``event`` and its socket is closed. ``False`` if it is already gone."""
        return await self.remove(visitor_id, event)

    async def hold(self, visitor_id: str, event: HeldEvent) -> bool:
        """Hold a visitor (possible minor in explicit video): its match ends now (its
        media is unlinked from the partner and its peer connection closed; the partner
        gets ``partner_left`` with reason ``ended`` and is re-queued), it gets ``event``
        and stays connected, but ``join`` is refused while the hold lasts (the store is
        asked at every join, see :meth:`handle`). ``False`` if it is gone."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.state == "closed":
            return False
        await self.stop(visitor, reason="ended")
        visitor.send(event)
        logger.warning("visitor held", extra={"visitor": visitor.id})
        return True

    async def remove(self, visitor_id: str, event: Event) -> bool:
        """Remove a visitor now (banned, or disconnected by a moderator), as :meth:`ban`
        describes, telling it ``event`` last. ``False`` if it is already gone."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.state == "closed":
            return False
        await self.stop(visitor, reason="ended")
        visitor.send(event)
        visitor.close(CLOSE_POLICY)
        await self.disconnect(visitor)
        return True

    def sends_video(self, visitor_id: str) -> bool:
        """Whether a visitor of this node sends live video now (in a video match, with a
        media connection and the camera on)."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or not visitor.media or not visitor.video:
            return False
        match = visitor.match
        return match is not None and match.mode == "video"

    @staticmethod
    def subject(visitor: Participant) -> Person:
        """The identifiers a ban of ``visitor`` covers: visitor, IP, session and device."""
        return Person(
            visitor=visitor.id, ip=visitor.ip, session=visitor.session, device=visitor.device
        )

    def _compatible(self, a: str, b: str) -> bool:
        """The matchmaker's hard rule: neither visitor blocked the other."""
        va, vb = self.visitors.get(a), self.visitors.get(b)
        if va is None or vb is None:
            return False
        return self.blocks.allows(self.subject(va), self.subject(vb))

    # --- messages ----------------------------------------------------------------------

    async def handle(self, visitor: Visitor, message: ClientMessage) -> None:
        """Act on one validated message; protocol misuse becomes an ``error`` event."""
        try:
            match message:
                case Ping():
                    visitor.send(PongEvent())
                case Join():
                    await self._join(visitor, message)
                case Next():
                    if self.pace is not None and visitor.match is not None:
                        await self.pace.next(visitor)
                    self._next(visitor)
                case Leave():
                    await self.stop(visitor, reason="left")
                case Restart():
                    await connection.restart(self, visitor)
                case Answer():
                    await connection.answer(self, visitor, message.sdp)
                case Candidate():
                    await connection.candidate(self, visitor, message)
                case Chat():
                    await talk.chat(self, visitor, message.text)
                case Typing():
                    await talk.typing(self, visitor, message.on)
                case Media():
                    await talk.media_state(self, visitor, message)
                case Report():
                    await reporting.report(self, visitor, message)
                case Block():
                    reporting.block(self, visitor)
        except Disconnect as exc:
            self.refuse(visitor, exc.code, exc.message)
            visitor.close(CLOSE_POLICY)
            await self.disconnect(visitor)
        except ProtocolError as exc:
            self.refuse(visitor, exc.code, exc.message, exc.retry_after)

    def refuse(
        self, visitor: Visitor, code: str, message: str, retry_after: float | None = None
    ) -> None:
        """Tell the visitor a message was refused (an ``error`` event with a stable code)."""
        visitor.send(ErrorEvent(code=code, message=message, retry_after=retry_after))
        self.emit("refused", visitor, code)

    async def _join(self, visitor: Visitor, message: Join) -> None:
        if visitor.state in ("waiting", "matched"):
            raise ProtocolError("already_joined", "send 'leave' before joining again")
        interests = normalise_interests(message.interests)
        language = normalise_language(message.language)
        if self.pace is not None:
            await self.pace.join(visitor)
            if not visitor.alive or visitor.state in ("waiting", "matched"):
                return
        if self.moderation is not None:
            hold = await self.moderation.active_hold(self.subject(visitor))
            if hold is not None:
                raise ProtocolError(
                    "held", "a moderator has to look at your video before you can chat again"
                )
            if not visitor.alive or visitor.state in ("waiting", "matched"):
                return
        mode = message.mode
        visitor.interests, visitor.language = interests, language
        visitor.mode = mode
        visitor.state = "waiting"
        visitor.looking_since, visitor.looking_after = self.clock(), "join"
        if mode == "video":
            generation = visitor.open_media()
            # Its likely partner: whoever waits first in line (placed in the same SFU process
            # when possible, so that their call needs no pipe between processes).
            near = None if self.shared is not None else self.matchmaker.first_waiting("video")
            sdp = await self.media.open(visitor.id, near)
            if visitor.media_generation != generation or not visitor.alive:
                return  # left or reconnected while the offer was being made
            visitor.send(OfferEvent(sdp=sdp))
        self.enqueue(visitor)

    def media_lost(self, visitors: list[str]) -> None:
        """An SFU worker process died with these visitors' peer connections. Each gets a
        fresh connection (an offer marked ``restart``) and its match carries on."""
        for visitor_id in visitors:
            visitor = self.visitors.get(visitor_id)
            if visitor is not None and visitor.media and visitor.alive:
                self.tasks.spawn(connection.reopen(self, visitor))

    def _next(self, visitor: Visitor) -> None:
        if visitor.match is None:
            if visitor.state == "waiting":
                raise ProtocolError("not_in_match", "already looking for a partner")
            raise ProtocolError("not_joined", "send 'join' first")
        self.end_match(visitor.match, reason="next", by=visitor)

    async def stop(self, visitor: Visitor, reason: EndReason) -> None:
        """Leave: end the match (the partner is re-queued), leave the queue, drop media."""
        if visitor.match is not None:
            self.end_match(visitor.match, reason=reason, by=visitor, requeue_initiator=False)
        self.cancel_retry(visitor)
        self.matchmaker.remove(visitor.id)
        if self.shared is not None:
            self.shared.leave_queue(visitor)
        if visitor.state != "closed":
            visitor.state = "idle"
        visitor.mode = None
        if visitor.media:
            visitor.close_media()
            await self.media.drop(visitor.id)

    @staticmethod
    def partner(visitor: Visitor) -> Participant:
        """The visitor's partner in its current match (refused when it has none)."""
        if visitor.match is None:
            raise ProtocolError("not_in_match", "you have no partner right now")
        return visitor.match.partner_of(visitor)

    # --- matching (see :mod:`signaling.room.pairing`) -----------------------------------

    def enqueue(self, visitor: Visitor) -> None:
        """Pair the visitor now if anyone suitable waits, else queue it."""
        pairing.enqueue(self, visitor)

    def start_match(
        self, a: Visitor, b: Participant, match_id: str | None = None, record: bool = True
    ) -> Match:
        """Announce a match to its local visitor(s) and wire their media. ``b`` may be on
        another node (whose own lobby announces it there); ``record``: this node stores it."""
        return pairing.start_match(self, a, b, match_id, record)

    def end_match(
        self,
        match: Match,
        reason: EndReason,
        by: Participant,
        requeue_initiator: bool = True,
        tell_remote: bool = True,
    ) -> None:
        """End ``match``: the partner of ``by`` is told and re-queued; ``by`` is re-queued
        too unless it is leaving (see :func:`signaling.room.pairing.end_match`)."""
        pairing.end_match(self, match, reason, by, requeue_initiator, tell_remote)

    @staticmethod
    def cancel_retry(visitor: Visitor) -> None:
        """Stop the visitor's pending pairing retry, if any."""
        pairing.cancel_retry(visitor)

    def waiting(self, mode: Mode) -> int:
        """Visitors waiting in ``mode``'s queue (all nodes' when several share Redis)."""
        if self.shared is not None:
            return int(self.shared.waiting.get(mode, 0))
        return self.matchmaker.waiting(mode)
