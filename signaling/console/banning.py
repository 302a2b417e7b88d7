"""Bans reviewers make and lift, and removing a banned visitor who is still connected.

Used by :mod:`.decisions` (an upheld review item or report bans) and by the bans page (a
ban by hand, an unban). Every ban and lift is audited in the transaction that makes it; a
connected visitor is removed, with its other tabs (same session or device), only after that
transaction committed (the lobby enforcer: ``banned`` with the ban's appeal token, socket
closed). Only this node's lobby is reached: a visitor connected to another node meets the
ban when they next connect.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from duet.errors import CodedError
from duet.person import Person
from moderation.records import BanRecord
from signaling.console.sessions import Reviewer
from signaling.door.appeals import owns
from signaling.room.enforcement import LobbyEnforcer
from signaling.storage.audit import AuditLog, AuditTransaction
from signaling.storage.bans import BanStore

MIN_BAN_S = 60.0
MAX_BAN_S = 365 * 86_400.0


class DecisionError(CodedError):
    """A decision refused: ``status`` and ``code`` for the API, ``message`` for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


class Banning:
    def __init__(
        self,
        audit: AuditLog,
        bans: BanStore,
        enforcer: LobbyEnforcer,
        default_ban_s: float,
        now: Callable[[], datetime],
        on_lift: Callable[[BanRecord], Awaitable[None]] | None = None,
    ) -> None:
        """``on_lift``: told of every lifted ban, once committed (several nodes: it drops
        the ban from the shared ban cache)."""
        self.audit = audit
        self.bans = bans
        self.enforcer = enforcer
        self.lobby = enforcer.lobby
        self.default_ban_s = default_ban_s
        self.now = now
        self.on_lift = on_lift

    def duration(self, duration_s: float | None) -> float:
        """The ban length asked for (default ``moderation.ban_duration_s``), checked."""
        duration = self.default_ban_s if duration_s is None else duration_s
        if not MIN_BAN_S <= duration <= MAX_BAN_S:
            raise DecisionError(400, "bad_duration", "a ban lasts from 1 minute to 365 days")
        return duration

    def new(
        self,
        target: Person,
        reason: str,
        source: str,
        duration: float,
        reviewer: Reviewer,
        evidence_id: str | None = None,
    ) -> BanRecord:
        created = self.now()
        return BanRecord(
            id="b_" + secrets.token_hex(8),
            visitor=target.visitor,
            ip=target.ip,
            session=target.session,
            device=target.device,
            reason=reason,
            source=source,
            created_at=created,
            until=created + timedelta(seconds=duration),
            evidence_id=evidence_id,
            created_by=reviewer.name,
        )

    async def add(
        self, tx: AuditTransaction, ban: BanRecord, reviewer: Reviewer, reason: str
    ) -> None:
        """Record ``ban`` and its audit entry inside ``tx``."""
        await self.bans.add(tx, ban)
        details = {
            "visitor": ban.visitor,
            "ip": ban.ip,
            "session": ban.session,
            "device": ban.device,
            "source": ban.source,
            "until": ban.until.isoformat(),
            "evidence": ban.evidence_id,
            "ban_reason": ban.reason,
        }
        await tx.append(reviewer.actor, "ban.created", f"ban:{ban.id}", reason, details)

    async def lift(
        self, tx: AuditTransaction, ban_id: str, reviewer: Reviewer, reason: str
    ) -> bool:
        """Lift a ban inside ``tx`` (audited); ``False`` if unknown or lifted already."""
        if not await self.bans.lift(tx, ban_id, reviewer.name, reason, self.now()):
            return False
        await tx.append(reviewer.actor, "ban.lifted", f"ban:{ban_id}", reason)
        return True

    async def forget(self, ban: BanRecord) -> None:
        """A lifted ban stops applying everywhere at once (after it was committed)."""
        if self.on_lift is not None:
            await self.on_lift(ban)

    async def enforce(self, ban: BanRecord, others: Sequence[str] = ()) -> None:
        """Remove the banned visitor (and its other tabs) and ``others`` now, once the ban
        was committed."""
        if ban.visitor:
            await self.enforcer.enforce(ban)
        for visitor in others:
            live = self.lobby.visitors.get(visitor)
            if visitor != ban.visitor and live is not None:
                owner = owns(ban, live.session, live.device)
                event = await self.enforcer.events.banned_event(ban, new=True, owner=owner)
                await self.lobby.ban(visitor, event)

    async def by_hand(
        self,
        reviewer: Reviewer,
        reason: str,
        duration_s: float | None,
        ip: str | None = None,
        visitor: str | None = None,
        session: str | None = None,
        device: str | None = None,
    ) -> BanRecord:
        """Ban a live visitor (its IP comes from the lobby) or an IP. The visitor, or every
        visitor on that IP when none is named, is removed at once."""
        live = self.lobby.visitors.get(visitor) if visitor else None
        if live is not None:
            ip, session, device = ip or live.ip, session or live.session, device or live.device
        if not ip:
            raise DecisionError(400, "no_identifiers", "name a connected visitor or an IP")
        target = Person(visitor or "", ip, session, device)
        ban = self.new(target, reason, "manual", self.duration(duration_s), reviewer)

        async def work(tx: AuditTransaction) -> None:
            await self.add(tx, ban, reviewer, reason)

        await self.audit.run(work)
        on_ip = [v.id for v in self.lobby.visitors.values() if v.ip == ip]
        await self.enforce(ban, [] if visitor else on_ip)
        return ban

    async def unban(self, reviewer: Reviewer, ban_id: str, reason: str) -> None:
        ban = await self.bans.get(ban_id)

        async def work(tx: AuditTransaction) -> None:
            if ban is None or not await self.lift(tx, ban_id, reviewer, reason):
                raise DecisionError(409, "conflict", "no such ban, or it was lifted already")

        await self.audit.run(work)
        if ban is not None:
            await self.forget(ban)
