"""A visitor's peer connection in the lobby: answers, ICE candidates, restarts, and a
fresh connection after its SFU worker process died.

Handlers await SDP work, so each re-checks the visitor's state afterwards: it may have
left or reconnected meanwhile.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sfu import BadSdp
from sfu.ice_grammar import CandidateError, check_candidate
from signaling.protocol import Candidate, OfferEvent, ProtocolError
from signaling.room.remote import RemoteVisitor
from signaling.room.visitor import Visitor

if TYPE_CHECKING:
    from signaling.room.lobby import Lobby

logger = logging.getLogger(__name__)


async def restart(lobby: Lobby, visitor: Visitor) -> None:
    """Replace a failed peer connection without ending the match.

    aiortc cannot restart ICE on an existing connection, so the SFU offers a new one;
    the match and its forwarding are carried over (re-linked) at once."""
    if not visitor.media or visitor.mode != "video":
        raise ProtocolError("no_offer", "there is no media connection to restart")
    now = lobby.clock()
    if now - visitor.restarted_at < lobby.settings.min_restart_interval_s:
        raise ProtocolError("too_soon", "the connection was restarted a moment ago")
    visitor.restarted_at = now
    # A new peer connection keeps the visitor's source, and whoever received the
    # visitor's media receives the new connection's: the match carries over.
    generation = visitor.open_media()
    sdp = await lobby.media.open(visitor.id)
    if visitor.media_generation == generation and visitor.alive:
        visitor.send(OfferEvent(sdp=sdp, restart=True))
    logger.info("media restarted", extra={"visitor": visitor.id})


async def reopen(lobby: Lobby, visitor: Visitor) -> None:
    generation = visitor.open_media()
    try:
        sdp = await lobby.media.open(visitor.id)
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
            lobby.wiring.connect(visitor.id, partner.id, partner.endpoint)
            partner.tell({"kind": "rewire", "endpoint": lobby.media.endpoint(visitor.id)})
        elif partner.media:
            lobby.wiring.connect(visitor.id, partner.id)
            lobby.wiring.connect(partner.id, visitor.id)
            lobby.emit("media_rewired", match, partner.id)
        lobby.emit("media_rewired", match, visitor.id)
    logger.warning("media reopened after an SFU worker died", extra={"visitor": visitor.id})


async def answer(lobby: Lobby, visitor: Visitor, sdp: str) -> None:
    if not visitor.media:
        raise ProtocolError("no_offer", "there is no offer to answer (join in video mode)")
    try:
        await lobby.media.answer(visitor.id, sdp)
    except KeyError:
        raise ProtocolError("no_offer", "the offer is gone (left or restarted)") from None
    except BadSdp as exc:
        raise ProtocolError("bad_sdp", str(exc)) from None


async def candidate(lobby: Lobby, visitor: Visitor, message: Candidate) -> None:
    if not visitor.media:
        raise ProtocolError("no_offer", "there is no peer connection for this candidate")
    candidate = None if message.candidate is None else message.candidate.model_dump()
    if candidate is not None and candidate["candidate"]:
        try:
            check_candidate(candidate["candidate"])
        except CandidateError as exc:
            raise ProtocolError("bad_candidate", str(exc)) from None
    try:
        await lobby.media.candidate(visitor.id, candidate)
    except KeyError:
        raise ProtocolError("no_offer", "the offer is gone (left or restarted)") from None
    except BadSdp as exc:
        raise ProtocolError("bad_candidate", str(exc)) from None
