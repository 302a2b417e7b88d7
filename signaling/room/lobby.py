"""The lobby: visitors join, get matched, talk, press Next, leave.

It turns validated protocol messages into state changes and events. It owns the visitors
of this process, the :class:`~signaling.room.matching.Matchmaker`, and the SFU router wiring of
matched video visitors. Single process: the source of truth for who is connected, waiting
and matched is this object's state; nothing else mutates it.

Every handler runs on the event loop. A handler that awaits (SDP work) re-checks the
visitor's state afterwards, because the visitor may have left meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyee.asyncio import AsyncIOEventEmitter

from moderation import Moderation, Subject
from moderation.text import sanitise
from sfu import BadSdp
from sfu.ice_grammar import CandidateError, check_candidate
from sfu.plane import MediaPlane
from signaling.config.keys import KeyRing
from signaling.door.resume import resume_token
from signaling.protocol import (
    Answer,
    BannedEvent,
    Block,
    BlockedEvent,
    Candidate,
    Chat,
    ChatEvent,
    ClientMessage,
    Disconnect,
    ErrorEvent,
    Event,
    HeldEvent,
    Join,
    Leave,
    MatchedEvent,
    Media,
    MediaEvent,
    Mode,
    Next,
    OfferEvent,
    PartnerLeftEvent,
    Ping,
    PongEvent,
    ProtocolError,
    QueuedEvent,
    Report,
    ReportedEvent,
    Restart,
    Typing,
    TypingEvent,
    WarningEvent,
    WelcomeEvent,
)
from signaling.room.blocks import Blocks, Identity
from signaling.room.interests import normalise_interests, normalise_language
from signaling.room.matching import Matchmaker
from signaling.room.pace import Pace
from signaling.room.reports import Filing, ReportDesk, Sender

if TYPE_CHECKING:
    from signaling.routing.room import SharedRoom
from signaling.config.settings import Settings
from signaling.room.remote import RemoteVisitor
from signaling.room.visitor import CLOSE_POLICY, Line, Match, Participant, Visitor
from signaling.room.wiring import Wiring
from signaling.storage import MatchStore
from signaling.storage.writer import BackgroundWriter

logger = logging.getLogger(__name__)

EndReason = str
"""Why a match ended: ``next``, ``left``, ``disconnected``, ``ended`` (by the server)."""


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


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
        keys: KeyRing | None = None,
    ) -> None:
        """``keys``: the node's key ring (resume tokens); ``None``: a random key for this
        lobby only (tests)."""
        super().__init__()
        self.settings = settings
        self.media = media
        self.wiring = Wiring(media)
        self.matches = matches
        self.writer = writer
        self.clock = clock
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
        self._tasks: set[asyncio.Task[None]] = set()
        self.moderation: Moderation | None = None
        """Set by the composition root (moderation's enforcer needs the lobby first)."""
        self.pace: Pace | None = None
        """Per-visitor rate limits (set by the composition root; ``None``: unlimited)."""
        self.reports: ReportDesk | None = None
        """Where reports go (set by the composition root; ``None``: refused)."""
        self.shared: SharedRoom | None = None
        """Several nodes: matching, blocks and partners on other nodes go through Redis
        (set by the composition root when ``redis_url`` is set; ``None``: one node)."""

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
            visitor_id = _new_id("v_")
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
        await self._stop(visitor, reason="disconnected")
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
        asked at every join, see :meth:`_join`). ``False`` if it is gone."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.state == "closed":
            return False
        await self._stop(visitor, reason="ended")
        visitor.send(event)
        logger.warning("visitor held", extra={"visitor": visitor.id})
        return True

    async def remove(self, visitor_id: str, event: Event) -> bool:
        """Remove a visitor now (banned, or disconnected by a moderator), as :meth:`ban`
        describes, telling it ``event`` last. ``False`` if it is already gone."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.state == "closed":
            return False
        await self._stop(visitor, reason="ended")
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
    def subject(visitor: Participant) -> Subject:
        """The identifiers a ban of ``visitor`` covers: visitor, IP, session and device."""
        return Subject(
            visitor=visitor.id, ip=visitor.ip, session=visitor.session, device=visitor.device
        )

    @staticmethod
    def identity(visitor: Participant) -> Identity:
        """The identifiers a block of ``visitor`` covers."""
        return Identity(session=visitor.session, device=visitor.device, ip=visitor.ip)

    def _compatible(self, a: str, b: str) -> bool:
        """The matchmaker's hard rule: neither visitor blocked the other."""
        va, vb = self.visitors.get(a), self.visitors.get(b)
        if va is None or vb is None:
            return False
        return self.blocks.allows(self.identity(va), self.identity(vb))

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
                    await self._stop(visitor, reason="left")
                case Restart():
                    await self._restart(visitor)
                case Answer():
                    await self._answer(visitor, message.sdp)
                case Candidate():
                    await self._candidate(visitor, message)
                case Chat():
                    await self._chat(visitor, message.text)
                case Typing():
                    await self._typing(visitor, message.on)
                case Media():
                    await self._media(visitor, message)
                case Report():
                    await self._report(visitor, message)
                case Block():
                    self._block(visitor)
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
        self._enqueue(visitor)

    async def _restart(self, visitor: Visitor) -> None:
        """Replace a failed peer connection without ending the match.

        aiortc cannot restart ICE on an existing connection, so the SFU offers a new one;
        the match and its forwarding are carried over (re-linked) at once."""
        if not visitor.media or visitor.mode != "video":
            raise ProtocolError("no_offer", "there is no media connection to restart")
        now = self.clock()
        if now - visitor.restarted_at < self.settings.min_restart_interval_s:
            raise ProtocolError("too_soon", "the connection was restarted a moment ago")
        visitor.restarted_at = now
        # A new peer connection keeps the visitor's source, and whoever received the
        # visitor's media receives the new connection's: the match carries over.
        generation = visitor.open_media()
        sdp = await self.media.open(visitor.id)
        if visitor.media_generation == generation and visitor.alive:
            visitor.send(OfferEvent(sdp=sdp, restart=True))
        logger.info("media restarted", extra={"visitor": visitor.id})

    def media_lost(self, visitors: list[str]) -> None:
        """An SFU worker process died with these visitors' peer connections. Each gets a
        fresh connection (an offer marked ``restart``) and its match carries on."""
        for visitor_id in visitors:
            visitor = self.visitors.get(visitor_id)
            if visitor is not None and visitor.media and visitor.alive:
                task = asyncio.ensure_future(self._reopen(visitor))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _reopen(self, visitor: Visitor) -> None:
        generation = visitor.open_media()
        try:
            sdp = await self.media.open(visitor.id)
        except Exception:
            logger.exception("could not reopen media", extra={"visitor": visitor.id})
            return
        if visitor.media_generation != generation or not visitor.alive:
            return
        visitor.send(OfferEvent(sdp=sdp, restart=True))
        match = visitor.match
        if match is not None and match.mode == "video":
            partner = match.partner_of(visitor)
            if isinstance(partner, RemoteVisitor):
                # The visitor's media moved: the partner's node pulls it from the new place.
                self.wiring.connect(visitor.id, partner.id, partner.endpoint)
                partner.tell({"kind": "rewire", "endpoint": self.media.endpoint(visitor.id)})
            elif partner.media:
                self.wiring.connect(visitor.id, partner.id)
                self.wiring.connect(partner.id, visitor.id)
                self.emit("media_rewired", match, partner.id)
            self.emit("media_rewired", match, visitor.id)
        logger.warning("media reopened after an SFU worker died", extra={"visitor": visitor.id})

    def _next(self, visitor: Visitor) -> None:
        if visitor.match is None:
            if visitor.state == "waiting":
                raise ProtocolError("not_in_match", "already looking for a partner")
            raise ProtocolError("not_joined", "send 'join' first")
        self._end_match(visitor.match, reason="next", by=visitor)

    async def _stop(self, visitor: Visitor, reason: EndReason) -> None:
        """Leave: end the match (the partner is re-queued), leave the queue, drop media."""
        if visitor.match is not None:
            self._end_match(visitor.match, reason=reason, by=visitor, requeue_initiator=False)
        self._cancel_retry(visitor)
        self.matchmaker.remove(visitor.id)
        if self.shared is not None:
            self.shared.leave_queue(visitor)
        if visitor.state != "closed":
            visitor.state = "idle"
        visitor.mode = None
        if visitor.media:
            visitor.close_media()
            await self.media.drop(visitor.id)

    async def _answer(self, visitor: Visitor, sdp: str) -> None:
        if not visitor.media:
            raise ProtocolError("no_offer", "there is no offer to answer (join in video mode)")
        try:
            await self.media.answer(visitor.id, sdp)
        except KeyError:
            raise ProtocolError("no_offer", "the offer is gone (left or restarted)") from None
        except BadSdp as exc:
            raise ProtocolError("bad_sdp", str(exc)) from None

    async def _candidate(self, visitor: Visitor, message: Candidate) -> None:
        if not visitor.media:
            raise ProtocolError("no_offer", "there is no peer connection for this candidate")
        candidate = None if message.candidate is None else message.candidate.model_dump()
        if candidate is not None and candidate["candidate"]:
            try:
                check_candidate(candidate["candidate"])
            except CandidateError as exc:
                raise ProtocolError("bad_candidate", str(exc)) from None
        try:
            await self.media.candidate(visitor.id, candidate)
        except KeyError:
            raise ProtocolError("no_offer", "the offer is gone (left or restarted)") from None
        except BadSdp as exc:
            raise ProtocolError("bad_candidate", str(exc)) from None

    async def _chat(self, visitor: Visitor, text: str) -> None:
        limit = self.settings.chat.max_length
        too_long = ProtocolError("too_long", f"chat messages are limited to {limit} characters")
        if len(text) > limit:
            raise too_long
        # The limit holds for the text as relayed: NFKC can grow a character 18-fold
        # (U+FDFA), so the sanitised text is measured again.
        text = sanitise(text)
        if len(text) > limit:
            raise too_long
        if not text:
            raise ProtocolError("invalid_message", "chat text is empty")
        match = visitor.match
        self._partner(visitor)
        if self.pace is not None:
            await self.pace.chat(visitor)
            if visitor.match is not match or not visitor.alive:
                return
        if self.moderation is not None and match is not None:
            outcome = await self.moderation.chat_message(self.subject(visitor), match.id, text)
            if not outcome.text:
                raise ProtocolError("invalid_message", "chat text is empty")
            if outcome.banned or visitor.match is not match or not visitor.alive:
                return  # banned for it, or the match ended while the message was checked
            if outcome.flagged:
                strikes_to_ban = self.moderation.settings.text.strikes_to_ban
                visitor.send(
                    WarningEvent(
                        reason=outcome.reason,
                        message="your message was censored: keep it civil or you will be banned",
                        strikes=outcome.strikes,
                        strikes_to_ban=strikes_to_ban,
                    )
                )
            text = outcome.text
        partner = self._partner(visitor)
        current = visitor.match
        if current is not None:
            current.lines.append(Line(sender=visitor.id, text=text, at=self.clock()))
        visitor.typing_sent = False  # the partner's page hides "typing" on a message
        partner.send(ChatEvent(text=text))

    async def _typing(self, visitor: Visitor, on: bool) -> None:
        partner = self._partner(visitor)
        if self.pace is not None and not await self.pace.chatter(visitor):
            return  # a flood of typing events is dropped, never relayed
        # Repeats tell the partner nothing: only changes are relayed.
        if visitor.match is None or visitor.match.partner_of(visitor) is not partner:
            return
        if visitor.typing_sent == on:
            return
        visitor.typing_sent = on
        partner.send(TypingEvent(on=on))

    async def _media(self, visitor: Visitor, message: Media) -> None:
        if self.pace is not None and not await self.pace.chatter(visitor):
            return
        changed = (visitor.audio, visitor.video) != (message.audio, message.video)
        visitor.audio, visitor.video = message.audio, message.video
        if changed and visitor.match is not None:
            visitor.match.partner_of(visitor).send(
                MediaEvent(audio=message.audio, video=message.video)
            )

    def _reportable(self, visitor: Visitor) -> Match:
        """The current match, or the last one if it ended within ``report_after_s``."""
        if visitor.match is not None:
            return visitor.match
        last = visitor.last_match
        after = self.settings.reports.report_after_s
        ended = None if last is None else last.ended_clock
        if last is not None and ended is not None and self.clock() - ended <= after:
            return last
        raise ProtocolError("not_in_match", "there is nobody to report or block right now")

    async def _report(self, visitor: Visitor, message: Report) -> None:
        if self.reports is None:
            raise ProtocolError("unavailable", "reports are not taken on this server")
        match = self._reportable(visitor)
        limit = self.settings.reports.comment_max_length
        comment = sanitise(message.comment)
        if len(comment) > limit:
            raise ProtocolError("too_long", f"report comments are limited to {limit} characters")
        now = self.clock()
        cooldown = self.settings.reports.cooldown_s
        if now - visitor.reported_at < cooldown:
            left = cooldown - (now - visitor.reported_at)
            raise ProtocolError("too_soon", "you reported a moment ago", round(left, 1))
        if self.pace is not None:
            await self.pace.report(visitor)
        visitor.reported_at = now
        reported = match.partner_of(visitor)
        keep = self.settings.reports.attached_messages
        transcript: list[tuple[Sender, str]] = (
            [
                ("reporter" if line.sender == visitor.id else "reported", line.text)
                for line in list(match.lines)[-keep:]
            ]
            if keep
            else []
        )
        filing = Filing(
            reporter_visitor=visitor.id,
            reporter_ip=visitor.ip,
            reported_visitor=reported.id,
            reported_ip=reported.ip,
            reason=message.reason,
            match=match.id,
            comment=comment,
            transcript=transcript,
            reporter_session=visitor.session,
            reported_session=reported.session,
            reported_device=reported.device,
            reporter_device=visitor.device,
            matched_s=(match.ended_clock or now) - match.started_clock,
        )
        if isinstance(reported, RemoteVisitor) and self.shared is not None:
            # The reported visitor's node checks its video and files the report.
            self.shared.forward_report(reported, filing, self.subject(visitor))
        else:
            await self.reports.file(filing, self.subject(visitor), self.subject(reported))
        if visitor.alive:
            visitor.send(ReportedEvent(reason=message.reason))
        logger.info(
            "report filed",
            extra={"visitor": visitor.id, "match": match.id, "partner": reported.id},
        )

    def _block(self, visitor: Visitor) -> None:
        match = self._reportable(visitor)
        blocked = match.partner_of(visitor)
        self.blocks.block(self.identity(visitor), self.identity(blocked))
        if self.shared is not None:
            self.shared.block(self.identity(visitor), self.identity(blocked))
        if visitor.match is match:
            self._end_match(match, reason="next", by=visitor)
        visitor.send(BlockedEvent())
        self.emit("blocked", visitor)
        logger.info("partner blocked", extra={"visitor": visitor.id, "match": match.id})

    def _partner(self, visitor: Visitor) -> Participant:
        if visitor.match is None:
            raise ProtocolError("not_in_match", "you have no partner right now")
        return visitor.match.partner_of(visitor)

    # --- matching ----------------------------------------------------------------------

    def _enqueue(self, visitor: Visitor) -> None:
        """Pair the visitor now if anyone suitable waits, else queue it."""
        assert visitor.mode is not None
        if self.shared is not None:
            visitor.state = "waiting"
            self.shared.pair_soon(visitor)
            return
        while True:
            partner_id = self.matchmaker.enqueue(
                visitor.id, visitor.mode, interests=visitor.interests, language=visitor.language
            )
            if partner_id is None:
                visitor.state = "waiting"
                visitor.send(QueuedEvent(mode=visitor.mode))
                self._schedule_retry(visitor)
                return
            partner = self.visitors.get(partner_id)
            # The ghost re-check: the partner may have vanished while waiting.
            if partner is None or not partner.alive or partner.state != "waiting":
                self.matchmaker.forget(partner_id)
                continue
            self._start_match(visitor, partner)
            return

    def _retry_pairing(self, visitor_id: str) -> None:
        visitor = self.visitors.get(visitor_id)
        if visitor is None:
            return
        visitor.retry = None
        if visitor.state != "waiting" or not visitor.alive:
            return
        partner_id = self.matchmaker.try_pair(visitor.id)
        if partner_id is None:
            self._schedule_retry(visitor)
            return
        partner = self.visitors.get(partner_id)
        if partner is None or not partner.alive or partner.state != "waiting":
            self.matchmaker.forget(partner_id)
            self._enqueue(visitor)
            return
        self._start_match(visitor, partner)

    def _schedule_retry(self, visitor: Visitor) -> None:
        self._cancel_retry(visitor)
        delay = self.matchmaker.retry_in(visitor.id)
        if delay is not None:
            loop = asyncio.get_running_loop()
            visitor.retry = loop.call_later(delay + 0.01, self._retry_pairing, visitor.id)

    @staticmethod
    def _cancel_retry(visitor: Visitor) -> None:
        if visitor.retry is not None:
            visitor.retry.cancel()
            visitor.retry = None

    def waiting(self, mode: Mode) -> int:
        """Visitors waiting in ``mode``'s queue (all nodes' when several share Redis)."""
        if self.shared is not None:
            return int(self.shared.waiting.get(mode, 0))
        return self.matchmaker.waiting(mode)

    def _start_match(
        self, a: Visitor, b: Participant, match_id: str | None = None, record: bool = True
    ) -> Match:
        """Announce a match to its local visitor(s) and wire their media. ``b`` may be on
        another node (whose own lobby announces it there); ``record``: this node stores it."""
        assert a.mode is not None
        match = Match(
            id=match_id or _new_id("m_"),
            mode=a.mode,
            a=a,
            b=b,
            started_at=datetime.now(UTC),
            started_clock=self.clock(),
            lines=deque(maxlen=max(1, self.settings.reports.attached_messages)),
        )
        if isinstance(b, RemoteVisitor):
            b.match_id = match.id
        local = match.local()
        for visitor in local:
            self._cancel_retry(visitor)
            visitor.state = "matched"
            visitor.match = match
            visitor.typing_sent = None
        if match.mode == "video":
            for visitor in local:
                partner = match.partner_of(visitor)
                if visitor.media and partner.media:
                    endpoint = partner.endpoint if isinstance(partner, RemoteVisitor) else None
                    self.wiring.connect(visitor.id, partner.id, endpoint)
                    visitor.media_barrier = self.wiring.pending(visitor.id)
        shared = sorted(set(a.interests) & set(b.interests))
        for visitor in local:
            partner = match.partner_of(visitor)
            visitor.send(
                MatchedEvent(
                    match=match.id, mode=match.mode, interests=shared, partner_name=partner.name
                )
            )
            if match.mode == "video" and not (partner.audio and partner.video):
                visitor.send(MediaEvent(audio=partner.audio, video=partner.video))
        if record:
            self.writer.submit(
                lambda: self.matches.started(match.id, match.mode, a.id, b.id, match.started_at)
            )
        self.emit("match_started", match)
        logger.info("match started", extra={"match": match.id, "visitor": a.id, "partner": b.id})
        return match

    def _end_match(
        self,
        match: Match,
        reason: EndReason,
        by: Participant,
        requeue_initiator: bool = True,
        tell_remote: bool = True,
    ) -> None:
        """End ``match``. The partner of ``by`` is told and re-queued; ``by`` is re-queued
        too unless it is leaving. A partner on another node is told through its node
        (unless ``tell_remote`` is false: that node ended it, or died)."""
        partner = match.partner_of(by)
        match.ended_clock = self.clock()
        local = match.local()
        for visitor in local:
            visitor.match = None
            visitor.last_match = match
            if visitor.state == "matched":
                visitor.state = "idle"
        if match.mode == "video":
            for visitor in local:
                if visitor.media:
                    self.wiring.disconnect(visitor.id)
                    visitor.media_barrier = self.wiring.pending(visitor.id)
        if self.shared is not None:
            self.shared.parted(match.a.id, match.b.id)
        else:
            self.matchmaker.parted(match.a.id, match.b.id)
        ended = datetime.now(UTC)
        self.writer.submit(lambda: self.matches.ended(match.id, reason, ended))
        self.emit("match_ended", match, reason)
        logger.info("match ended", extra={"match": match.id, "visitor": by.id, "reason": reason})
        if isinstance(partner, RemoteVisitor):
            if tell_remote:
                partner.tell({"kind": "ended", "reason": reason})
            partner.gone = True
        elif partner.alive:
            partner.send(PartnerLeftEvent(reason=reason))
        # Whoever pressed Next asked for someone new: they get first pick of the queue.
        now = self.clock()
        if requeue_initiator and isinstance(by, Visitor) and by.alive:
            by.looking_since, by.looking_after = now, "requeue"
            self._enqueue(by)
        if isinstance(partner, Visitor) and partner.alive:
            partner.looking_since, partner.looking_after = now, "requeue"
            self._enqueue(partner)

    # --- partners on other nodes ----------------------------------------------------------

    def remote_ended(self, visitor_id: str, match_id: str, reason: EndReason) -> None:
        """The partner's node ended a match (Next, leave, disconnect, ban)."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        match = visitor.match
        self._end_match(match, reason, by=match.partner_of(visitor), tell_remote=False)

    def remote_event(self, visitor_id: str, match_id: str, event: dict[str, object]) -> None:
        """An event from the partner on another node (chat, typing, media) for a visitor."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        partner = visitor.match.partner_of(visitor)
        if event.get("type") == "chat" and isinstance(event.get("text"), str):
            visitor.match.lines.append(Line(partner.id, str(event["text"]), self.clock()))
        if event.get("type") == "media" and isinstance(partner, RemoteVisitor):
            partner.audio, partner.video = bool(event.get("audio")), bool(event.get("video"))
        visitor.send_json(event)

    def remote_rewire(self, visitor_id: str, match_id: str, endpoint: str | None) -> None:
        """The partner's media moved (its SFU process was replaced): pull it from there."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        partner = visitor.match.partner_of(visitor)
        if isinstance(partner, RemoteVisitor) and visitor.media:
            partner.endpoint = endpoint
            self.wiring.connect(visitor.id, partner.id, endpoint)
            self.emit("media_rewired", visitor.match, visitor.id)

    def remote_video_open(self, visitor_id: str, match_id: str, keyframe: int | None) -> None:
        """The partner's node pre-screened the partner's video safe: the composition root
        opens it here (``"remote_video_open"``: match, visitor, keyframe)."""
        visitor = self.visitors.get(visitor_id)
        if visitor is None or visitor.match is None or visitor.match.id != match_id:
            return
        if isinstance(visitor.match.partner_of(visitor), RemoteVisitor) and visitor.media:
            self.emit("remote_video_open", visitor.match, visitor_id, keyframe)

    def node_died(self, node: str) -> None:
        """Another node stopped beating: end this node's matches with its visitors."""
        for visitor in list(self.visitors.values()):
            match = visitor.match
            if match is None:
                continue
            partner = match.partner_of(visitor)
            if isinstance(partner, RemoteVisitor) and partner.node == node:
                self._end_match(match, "disconnected", by=partner, tell_remote=False)

    def remote_nodes(self) -> set[str]:
        """The other nodes this node's matches depend on."""
        nodes = set()
        for visitor in self.visitors.values():
            if visitor.match is not None:
                partner = visitor.match.partner_of(visitor)
                if isinstance(partner, RemoteVisitor):
                    nodes.add(partner.node)
        return nodes
