"""Matching in the lobby: queue a visitor or pair it now, retry while it waits, start and
end matches.

A match is started by announcing it to its local visitor(s) and wiring their media; it
ends with the partner told and re-queued. Pairing on one node goes through the in-memory
:class:`~signaling.room.matching.Matchmaker`; with several nodes the lobby's
:class:`~signaling.room.crossing.Crossing` pairs through Redis instead.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from typing import TYPE_CHECKING

from signaling.protocol import MatchedEvent, MediaEvent, PartnerLeftEvent, QueuedEvent
from signaling.room.remote import RemoteVisitor
from signaling.room.visitor import EndReason, Match, Participant, Visitor

if TYPE_CHECKING:
    from signaling.room.lobby import Lobby

logger = logging.getLogger(__name__)


def new_id(prefix: str) -> str:
    """A fresh random id (``v_`` visitors, ``m_`` matches)."""
    return prefix + secrets.token_hex(8)


def enqueue(lobby: Lobby, visitor: Visitor) -> None:
    """Pair the visitor now if anyone suitable waits, else queue it."""
    assert visitor.mode is not None
    if lobby.shared is not None:
        visitor.state = "waiting"
        lobby.shared.pair_soon(visitor)
        return
    while True:
        partner_id = lobby.matchmaker.enqueue(
            visitor.id, visitor.mode, interests=visitor.interests, language=visitor.language
        )
        if partner_id is None:
            visitor.state = "waiting"
            visitor.send(QueuedEvent(mode=visitor.mode))
            schedule_retry(lobby, visitor)
            return
        partner = lobby.visitors.get(partner_id)
        # The ghost re-check: the partner may have vanished while waiting.
        if partner is None or not partner.alive or partner.state != "waiting":
            lobby.matchmaker.forget(partner_id)
            continue
        start_match(lobby, visitor, partner)
        return


def retry_pairing(lobby: Lobby, visitor_id: str) -> None:
    visitor = lobby.visitors.get(visitor_id)
    if visitor is None:
        return
    visitor.retry = None
    if visitor.state != "waiting" or not visitor.alive:
        return
    partner_id = lobby.matchmaker.try_pair(visitor.id)
    if partner_id is None:
        schedule_retry(lobby, visitor)
        return
    partner = lobby.visitors.get(partner_id)
    if partner is None or not partner.alive or partner.state != "waiting":
        lobby.matchmaker.forget(partner_id)
        enqueue(lobby, visitor)
        return
    start_match(lobby, visitor, partner)


def schedule_retry(lobby: Lobby, visitor: Visitor) -> None:
    cancel_retry(visitor)
    delay = lobby.matchmaker.retry_in(visitor.id)
    if delay is not None:
        loop = asyncio.get_running_loop()
        visitor.retry = loop.call_later(delay + 0.01, retry_pairing, lobby, visitor.id)


def start_match(
    lobby: Lobby, a: Visitor, b: Participant, match_id: str | None = None, record: bool = True
) -> Match:
    """Announce a match to its local visitor(s) and wire their media. ``b`` may be on
    another node (whose own lobby announces it there); ``record``: this node stores it."""
    assert a.mode is not None
    match = Match(
        id=match_id or new_id("m_"),
        mode=a.mode,
        a=a,
        b=b,
        started_at=lobby.wall(),
        started_clock=lobby.clock(),
        lines=deque(maxlen=max(1, lobby.settings.reports.attached_messages)),
    )
    if isinstance(b, RemoteVisitor):
        b.match_id = match.id
    local = match.local()
    for visitor in local:
        cancel_retry(visitor)
        visitor.state = "matched"
        visitor.match = match
        visitor.typing_sent = None
    if match.mode == "video":
        for visitor in local:
            partner = match.partner_of(visitor)
            if visitor.media and partner.media:
                endpoint = partner.endpoint if isinstance(partner, RemoteVisitor) else None
                lobby.wiring.connect(visitor.id, partner.id, endpoint)
                visitor.media_barrier = lobby.wiring.pending(visitor.id)
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
        lobby.writer.submit(
            lambda: lobby.matches.started(match.id, match.mode, a.id, b.id, match.started_at)
        )
    lobby.emit("match_started", match)
    logger.info("match started", extra={"match": match.id, "visitor": a.id, "partner": b.id})
    return match


def cancel_retry(visitor: Visitor) -> None:
    if visitor.retry is not None:
        visitor.retry.cancel()
        visitor.retry = None


def end_match(
    lobby: Lobby,
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
    match.ended_clock = lobby.clock()
    local = match.local()
    for visitor in local:
        visitor.match = None
        visitor.last_match = match
        if visitor.state == "matched":
            visitor.state = "idle"
    if match.mode == "video":
        for visitor in local:
            if visitor.media:
                lobby.wiring.disconnect(visitor.id)
                visitor.media_barrier = lobby.wiring.pending(visitor.id)
    if lobby.shared is not None:
        lobby.shared.parted(match.a.id, match.b.id)
    else:
        lobby.matchmaker.parted(match.a.id, match.b.id)
    ended = lobby.wall()
    lobby.writer.submit(lambda: lobby.matches.ended(match.id, reason, ended))
    lobby.emit("match_ended", match, reason)
    logger.info("match ended", extra={"match": match.id, "visitor": by.id, "reason": reason})
    if isinstance(partner, RemoteVisitor):
        if tell_remote:
            partner.tell({"kind": "ended", "reason": reason})
        partner.gone = True
    elif partner.alive:
        partner.send(PartnerLeftEvent(reason=reason))
    # Whoever pressed Next asked for someone new: they get first pick of the queue.
    now = lobby.clock()
    if requeue_initiator and isinstance(by, Visitor) and by.alive:
        by.looking_since, by.looking_after = now, "requeue"
        enqueue(lobby, by)
    if isinstance(partner, Visitor) and partner.alive:
        partner.looking_since, partner.looking_after = now, "requeue"
        enqueue(lobby, partner)
