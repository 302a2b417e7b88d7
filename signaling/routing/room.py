"""The lobby's multi-node side: pairing through Redis, partners on other nodes.

LiveKit's design is the model: a local router, and a Redis router wrapping it. The
:class:`~signaling.room.lobby.Lobby` keeps doing everything about its own visitors; when
``redis_url`` is set it hands three things to a :class:`SharedRoom` (its
:class:`~signaling.room.crossing.Crossing`, built from the lobby when the lobby is built;
the room calls only the lobby's public methods):

- **pairing** (:meth:`SharedRoom.pair_soon`): the Redis matchmaker claims a partner
  atomically. A partner on this node is matched at once (after the ghost re-check). A
  partner on another node is *offered* the match through the bus; its node re-checks that
  the partner is still there and waiting, announces the match to it and answers with what
  this node needs (identifiers, media endpoint). Only then is this node's visitor told. A
  declined or unanswered offer sends the visitor straight back to matching.
- **messages** (:meth:`SharedRoom.on_message`): events for a local visitor from its partner
  on another node (chat, typing, media), a match ended there, a partner's media moving, a
  report about a local visitor, a claimed visitor given back.
- **shared state**: cooldowns after a match and blocks live in Redis with the queues, so
  that every node's matching sees them.

A node that dies is noticed by the bus (its heartbeat expires); the lobby then ends its
own visitors' matches with that node's visitors and re-queues them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from duet.clock import SYSTEM_CLOCK, Clock
from duet.person import Person
from duet.tasks import TaskSet
from signaling.protocol import QueuedEvent
from signaling.room.remote import RemoteVisitor, describe
from signaling.routing.bus import Message, NodeBus
from signaling.routing.matchmaker import Pairing, RedisMatchmaker
from signaling.routing.messages import (
    Ended,
    Offer,
    Relayed,
    Reply,
    Report,
    Requeue,
    Rewire,
    VideoOpen,
    parse,
)
from signaling.routing.presence import Presence
from signaling.storage.reports import Filing

if TYPE_CHECKING:
    from signaling.room.lobby import Lobby
    from signaling.room.visitor import Visitor

logger = logging.getLogger(__name__)

OFFER_TIMEOUT = 3.0
"""Seconds a node waits for another node to accept a match offer."""


class SharedRoom:
    """Matching and partners across nodes, for one node's lobby."""

    def __init__(
        self,
        lobby: Lobby,
        matchmaker: RedisMatchmaker,
        bus_redis: Redis,
        block_ttl_s: float,
        block_ip_ttl_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``bus_redis``: a Redis client of its own for the node bus (it subscribes);
        ``clock``: the node's clock (refresh pauses, presence and ban-cache times)."""
        self.lobby = lobby
        self.matchmaker = matchmaker
        self.node = matchmaker.node
        self.bus = NodeBus(
            bus_redis,
            self.node,
            handler=self.on_message,
            watched=lobby.remote.nodes,
            dead_handlers=[lobby.remote.node_died],
            sleep=clock.sleep,
        )
        self.presence = Presence(matchmaker.redis, self.node, prefix=matchmaker.prefix, clock=clock)
        self.clock = clock
        self.block_ttl_s = block_ttl_s
        self.block_ip_ttl_s = block_ip_ttl_s
        self.waiting: dict[str, int] = {}
        """Visitors waiting per mode on every node (refreshed every second)."""
        self.online = 0
        """Visitors connected to any live node (refreshed every second)."""
        self.offers_sent = 0
        self.offers_declined = 0
        self._replies: dict[str, asyncio.Future[Reply]] = {}
        self._pairing: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._tasks = TaskSet()
        self._refresher: asyncio.Task[None] | None = None
        lobby.on("visitor_arrived", lambda v: self._spawn(self.presence.arrived(v.id, v.ip)))
        lobby.on("visitor_left", lambda v: self._spawn(self.presence.left(v.id)))

    async def start(self) -> None:
        await self.bus.start()
        self._refresher = asyncio.ensure_future(self._refresh())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for task in list(self._pairing.values()) + list(self._tasks):
            task.cancel()
        await self.bus.close()

    # --- pairing ----------------------------------------------------------------------

    def pair_soon(self, visitor: Visitor) -> None:
        """Look for a partner for ``visitor`` (one attempt at a time per visitor)."""
        if visitor.id in self._pairing:
            self._again.add(visitor.id)
            return
        task = asyncio.ensure_future(self._pair_loop(visitor, retry=False))
        self._pairing[visitor.id] = task
        task.add_done_callback(lambda _: self._pairing.pop(visitor.id, None))

    async def _pair_loop(self, visitor: Visitor, retry: bool) -> None:
        while True:
            self._again.discard(visitor.id)
            try:
                await self._pair(visitor, retry)
            except Exception:
                logger.exception("pairing failed", extra={"visitor": visitor.id})
                if visitor.alive and visitor.state == "waiting":
                    self._retry_later(visitor, 1.0)
            if visitor.id not in self._again:
                return
            retry = False

    def _waiting(self, visitor: Visitor) -> bool:
        return visitor.alive and visitor.state == "waiting" and visitor.match is None

    async def _pair(self, visitor: Visitor, retry: bool) -> None:
        announce = not retry
        while self._waiting(visitor) and visitor.mode is not None:
            if retry:
                pairing = await self.matchmaker.try_pair(visitor.id)
                if pairing.gone:
                    return  # claimed by another node meanwhile: its offer is on the way
            else:
                identity = self.lobby.subject(visitor)
                pairing = await self.matchmaker.enqueue(
                    visitor.id,
                    visitor.mode,
                    interests=visitor.interests,
                    language=visitor.language,
                    identities=identity.all_keys(),
                )
            retry = False
            if not self._waiting(visitor):
                # It left (or was matched by an offer) while Redis answered.
                if pairing.partner is not None:
                    self._give_back(pairing)
                else:
                    await self.matchmaker.remove(visitor.id)
                return
            if pairing.partner is None:
                if announce:
                    visitor.send(QueuedEvent(mode=visitor.mode))
                if pairing.retry_in is not None:
                    self._retry_later(visitor, pairing.retry_in)
                return
            if pairing.partner_node == self.node:
                partner = self.lobby.visitors.get(pairing.partner)
                # The ghost re-check: the partner may have vanished while waiting.
                if partner is not None and self._waiting(partner):
                    self.lobby.start_match(visitor, partner)
                    return
                continue
            if await self._offer(visitor, pairing):
                return

    async def _offer(self, visitor: Visitor, pairing: Pairing) -> bool:
        """Offer a match to the partner's node; True once both sides are matched."""
        match_id = "m_" + secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Reply] = loop.create_future()
        self._replies[match_id] = reply
        self.offers_sent += 1
        try:
            await self.bus.send(
                pairing.partner_node,
                {
                    "kind": "offer",
                    "to": pairing.partner,
                    "match": match_id,
                    "mode": visitor.mode,
                    "from": self._describe(visitor),
                },
            )
            answer = await asyncio.wait_for(reply, OFFER_TIMEOUT)
        except TimeoutError:
            answer = Reply(match=match_id)
            # It may still accept late: make sure that side ends, whatever happened.
            ended = {"kind": "ended", "to": pairing.partner, "match": match_id}
            await self._send(pairing.partner_node, {**ended, "reason": "disconnected"})
        finally:
            self._replies.pop(match_id, None)
        if not answer.accepted or answer.visitor is None:
            self.offers_declined += 1
            return False
        partner = RemoteVisitor.from_description(answer.visitor, match_id, self.bus.send)
        if not self._waiting(visitor):
            partner.tell({"kind": "ended", "reason": "disconnected"})
            return True
        self.lobby.start_match(visitor, partner, match_id=match_id, record=True)
        return True

    def _retry_later(self, visitor: Visitor, delay: float) -> None:
        self.lobby.cancel_retry(visitor)
        loop = asyncio.get_running_loop()
        visitor.retry = loop.call_later(delay + 0.01, self._retry_now, visitor.id)

    def _retry_now(self, visitor_id: str) -> None:
        visitor = self.lobby.visitors.get(visitor_id)
        if visitor is None or not self._waiting(visitor) or visitor_id in self._pairing:
            return
        visitor.retry = None
        task = asyncio.ensure_future(self._pair_loop(visitor, retry=True))
        self._pairing[visitor.id] = task
        task.add_done_callback(lambda _: self._pairing.pop(visitor_id, None))

    def _give_back(self, pairing: Pairing) -> None:
        """We claimed a partner but no longer need it: its node sends it back to matching."""
        if pairing.partner is None:
            return
        if pairing.partner_node == self.node:
            partner = self.lobby.visitors.get(pairing.partner)
            if partner is not None and self._waiting(partner):
                self.pair_soon(partner)
            return
        self._spawn(self._send(pairing.partner_node, {"kind": "requeue", "to": pairing.partner}))

    def _describe(self, visitor: Visitor) -> dict[str, Any]:
        endpoint = self.lobby.media.endpoint(visitor.id) if visitor.media else None
        return describe(visitor, self.node, endpoint)

    # --- messages from other nodes ------------------------------------------------------

    async def on_message(self, message: Message) -> None:
        parsed = parse(message)
        if parsed is None:
            logger.warning("bus message of no known shape dropped (%s)", message.get("kind"))
            return
        to, match_id = parsed.to, parsed.match
        match parsed:
            case Offer():
                await self._on_offer(parsed)
            case Reply():
                reply = self._replies.get(match_id)
                if reply is not None and not reply.done():
                    reply.set_result(parsed)
            case Ended():
                self.lobby.remote.ended(to, match_id, parsed.reason)
            case Relayed():
                self.lobby.remote.event(to, match_id, parsed.event)
            case Rewire():
                self.lobby.remote.rewire(to, match_id, parsed.endpoint or None)
            case VideoOpen():
                self.lobby.remote.video_open(to, match_id, parsed.keyframe)
            case Requeue():
                visitor = self.lobby.visitors.get(to)
                if visitor is not None and self._waiting(visitor):
                    self.pair_soon(visitor)
            case Report():
                await self._on_report(parsed)

    async def _on_offer(self, offer: Offer) -> None:
        to, match_id, origin = offer.to, offer.match, offer.origin
        node = str(origin.get("node", ""))
        visitor = self.lobby.visitors.get(to)
        if visitor is None or not self._waiting(visitor) or visitor.mode != offer.mode:
            await self._send(node, {"kind": "reply", "match": match_id, "accepted": False})
            if visitor is not None and self._waiting(visitor):
                self.pair_soon(visitor)  # its ticket was claimed: queue it again
            return
        partner = RemoteVisitor.from_description(origin, match_id, self.bus.send)
        self.lobby.start_match(visitor, partner, match_id=match_id, record=False)
        await self._send(
            node,
            {
                "kind": "reply",
                "match": match_id,
                "accepted": True,
                "visitor": self._describe(visitor),
            },
        )

    # --- reports, blocks, cooldowns -----------------------------------------------------

    def forward_report(self, reported: RemoteVisitor, filing: Filing, reporter: Person) -> None:
        """Hand a report to the reported visitor's node (it checks that visitor's video)."""
        reported.tell({"kind": "report", "filing": asdict(filing), "reporter": asdict(reporter)})

    async def _on_report(self, report: Report) -> None:
        reports = self.lobby.reports
        if reports is None:
            return
        data = dict(report.filing)
        data["transcript"] = [tuple(line) for line in data.get("transcript", [])]
        filing = Filing(**data)
        reporter = Person(**report.reporter)
        local = self.lobby.visitors.get(filing.reported_visitor)
        reported = (
            self.lobby.subject(local)
            if local is not None
            else Person(
                visitor=filing.reported_visitor,
                ip=filing.reported_ip,
                session=filing.reported_session,
                device=filing.reported_device,
            )
        )
        await reports.file(filing, reporter, reported)

    def block(self, blocker: Person, blocked: Person) -> None:
        targets = [
            (key, self.block_ip_ttl_s if key.startswith("i:") else self.block_ttl_s)
            for key in blocked.all_keys()
        ]
        self._spawn(self.matchmaker.block(blocker.own_keys(), targets))

    def parted(self, a: str, b: str) -> None:
        self._spawn(self.matchmaker.parted(a, b))

    def leave_queue(self, visitor: Visitor) -> None:
        self._spawn(self.matchmaker.remove(visitor.id))

    # --- plumbing ------------------------------------------------------------------------

    async def _send(self, node: str, message: Message) -> None:
        try:
            await self.bus.send(node, message)
        except Exception:
            logger.exception("could not reach node %s", node)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(coro)

    async def _refresh(self) -> None:
        while True:
            try:
                for mode in ("video", "text"):
                    self.waiting[mode] = await self.matchmaker.waiting(mode)
                await self.presence.refresh()
                self.online = await self.presence.online(await self.bus.nodes())
            except (ConnectionError, OSError) as exc:
                logger.warning("could not read the shared queues: %s", exc)
            await self.clock.sleep(1.0)
