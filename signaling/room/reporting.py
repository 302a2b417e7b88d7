"""Reports and blocks: about the current partner, or the last one within
``reports.report_after_s``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from moderation.text import sanitise
from signaling.protocol import BlockedEvent, ProtocolError, Report, ReportedEvent
from signaling.room.remote import RemoteVisitor
from signaling.room.visitor import Match, Visitor
from signaling.storage.reports import Filing, Sender

if TYPE_CHECKING:
    from signaling.room.lobby import Lobby

logger = logging.getLogger(__name__)


def reportable(lobby: Lobby, visitor: Visitor) -> Match:
    """The current match, or the last one if it ended within ``report_after_s``."""
    if visitor.match is not None:
        return visitor.match
    last = visitor.last_match
    after = lobby.settings.reports.report_after_s
    ended = None if last is None else last.ended_clock
    if last is not None and ended is not None and lobby.clock() - ended <= after:
        return last
    raise ProtocolError("not_in_match", "there is nobody to report or block right now")


async def report(lobby: Lobby, visitor: Visitor, message: Report) -> None:
    if lobby.reports is None:
        raise ProtocolError("unavailable", "reports are not taken on this server")
    match = reportable(lobby, visitor)
    limit = lobby.settings.reports.comment_max_length
    comment = sanitise(message.comment)
    if len(comment) > limit:
        raise ProtocolError("too_long", f"report comments are limited to {limit} characters")
    now = lobby.clock()
    cooldown = lobby.settings.reports.cooldown_s
    if now - visitor.reported_at < cooldown:
        left = cooldown - (now - visitor.reported_at)
        raise ProtocolError("too_soon", "you reported a moment ago", round(left, 1))
    if lobby.pace is not None:
        await lobby.pace.report(visitor)
    visitor.reported_at = now
    reported = match.partner_of(visitor)
    keep = lobby.settings.reports.attached_messages
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
    if isinstance(reported, RemoteVisitor) and lobby.shared is not None:
        # The reported visitor's node checks its video and files the report.
        lobby.shared.forward_report(reported, filing, lobby.subject(visitor))
    else:
        await lobby.reports.file(filing, lobby.subject(visitor), lobby.subject(reported))
    if visitor.alive:
        visitor.send(ReportedEvent(reason=message.reason))
    logger.info(
        "report filed",
        extra={"visitor": visitor.id, "match": match.id, "partner": reported.id},
    )


def block(lobby: Lobby, visitor: Visitor) -> None:
    match = reportable(lobby, visitor)
    blocked = match.partner_of(visitor)
    lobby.blocks.block(lobby.subject(visitor), lobby.subject(blocked))
    if lobby.shared is not None:
        lobby.shared.block(lobby.subject(visitor), lobby.subject(blocked))
    if visitor.match is match:
        lobby.end_match(match, reason="next", by=visitor)
    visitor.send(BlockedEvent())
    lobby.emit("blocked", visitor)
    logger.info("partner blocked", extra={"visitor": visitor.id, "match": match.id})
