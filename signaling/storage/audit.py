"""The append-only audit log: every reviewer and automatic action, hash-chained.

Each entry's ``hash`` is the SHA-256 of the previous entry's hash and the entry's own
canonical JSON (``seq``, time, actor, action, target, reason, details), so changing,
removing or inserting any row breaks the chain from there on; :meth:`AuditLog.verify`
(``duet audit verify``) walks it and reports the first broken link. The database also
refuses UPDATE and DELETE on the table (triggers of migration 0004).

Entries are appended inside the transaction of the change they describe
(:meth:`AuditLog.run`), so an action and its audit entry are committed together or not
at all. Appends are serialised by a lock in this process and, across processes, before
the last entry is read: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by
taking the database's write lock (a write that changes nothing; the driver starts
transactions lazily, at their first write, so a plain read could see a stale last entry).
``seq`` is the primary key besides: should two appends still collide, the loser retries
its whole transaction.
The newest entries could be cut off without breaking the chain: keep the latest hash
elsewhere (``duet audit verify`` prints it) to detect that.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from duet.clock import SYSTEM_CLOCK
from signaling.storage.db import Database, utc
from signaling.storage.tables import AuditRow

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""
SYSTEM_MODERATION = "system:moderation"
"""Actor of automatic moderation actions."""
MAX_RETRIES = 5
VERIFY_BATCH = 1000
ADVISORY_LOCK = 0x6475_6574_6175_6474
"""PostgreSQL advisory lock key that serialises audit appends ("duetaudt")."""

T = TypeVar("T")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    """Dotted verb, e.g. ``ban.created``, ``appeal.overturned``, ``login``."""
    target: str
    """What it was done to: ``ban:b_…``, ``review:r_…``, ``visitor:v_…``, ``account:…``."""
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "details": self.details,
            "hash": self.hash,
        }


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    reason: str,
    details: dict[str, Any],
) -> str:
    """The chain hash of one entry (times in UTC with microseconds, JSON keys sorted)."""
    body = json.dumps(
        [seq, utc(at).isoformat(timespec="microseconds"), actor, action, target, reason, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Broken:
    """The first link of the chain that does not hold."""

    seq: int
    problem: str


@dataclass(frozen=True)
class Verification:
    entries: int
    last_hash: str
    broken: Broken | None


class AuditTransaction:
    """A database transaction in which audit entries can be appended."""

    def __init__(self, session: AsyncSession, now: Callable[[], datetime]) -> None:
        self.session = session
        self.now = now
        self._locked = False

    async def _lock(self) -> None:
        """Wait for other connections' appends; the lock is held until commit."""
        if self._locked:
            return
        self._locked = True
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}
            )
        elif dialect == "sqlite":
            # Begins the write transaction (waiting, with the driver's busy timeout, for
            # another connection's to end); no row matches, so the triggers never fire.
            await self.session.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))

    async def append(
        self,
        actor: str,
        action: str,
        target: str,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        await self._lock()
        last = (
            await self.session.execute(
                select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
            )
        ).first()
        seq, prev = (1, GENESIS) if last is None else (last[0] + 1, last[1])
        at = utc(self.now())
        data = dict(details or {})
        digest = entry_hash(prev, seq, at, actor, action, target, reason, data)
        self.session.add(
            AuditRow(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                target=target,
                reason=reason,
                details=data,
                prev_hash=prev,
                hash=digest,
            )
        )
        await self.session.flush()
        return AuditEntry(seq, at, actor, action, target, reason, data, prev, digest)


class AuditLog:
    def __init__(self, db: Database, now: Callable[[], datetime] = SYSTEM_CLOCK.wall) -> None:
        """``now``: the node's wall clock (:meth:`duet.clock.Clock.wall`, UTC)."""
        self.db = db
        self.now = now
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[AuditTransaction], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction that may append audit entries; commit it.

        ``work`` may run more than once (when another process appended at the same time),
        so it must only touch the database through the transaction it is given."""
        for attempt in range(MAX_RETRIES):
            async with self._lock:
                try:
                    async with self.db.sessions.begin() as session:
                        return await work(AuditTransaction(session, self.now))
                except IntegrityError as exc:
                    if "audit_log" not in str(exc) or attempt == MAX_RETRIES - 1:
                        raise
                    logger.info("audit append collided with another process; retrying")
        raise RuntimeError("unreachable")

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry on its own (an action with no other database change)."""

        async def work(tx: AuditTransaction) -> AuditEntry:
            return await tx.append(actor, action, target, reason, details)

        return await self.run(work)

    async def recent(
        self,
        limit: int = 50,
        actions: Sequence[str] | None = None,
        target: str | None = None,
        before_seq: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first; optionally only some actions, one target, or older than a seq."""
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(min(limit, 500))
        if actions:
            query = query.where(AuditRow.action.in_(list(actions)))
        if target is not None:
            query = query.where(AuditRow.target == target)
        if before_seq is not None:
            query = query.where(AuditRow.seq < before_seq)
        return [_entry(row) for row in await self.db.rows(query)]

    async def verify(self) -> Verification:
        """Walk the whole chain in ``seq`` order (in batches) and check every link."""
        expected_seq, prev, count = 1, GENESIS, 0
        async with self.db.sessions() as session:
            while True:
                query = (
                    select(AuditRow)
                    .where(AuditRow.seq >= expected_seq)
                    .order_by(AuditRow.seq)
                    .limit(VERIFY_BATCH)
                )
                rows = list((await session.execute(query)).scalars())
                if not rows:
                    return Verification(count, prev, None)
                for row in rows:
                    problem = _check(row, expected_seq, prev)
                    if problem is not None:
                        return Verification(count, prev, Broken(row.seq, problem))
                    prev, expected_seq, count = row.hash, row.seq + 1, count + 1


def _check(row: AuditRow, expected_seq: int, prev: str) -> str | None:
    if row.seq != expected_seq:
        return f"entries {expected_seq}..{row.seq - 1} are missing"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous entry's hash"
    digest = entry_hash(
        row.prev_hash,
        row.seq,
        row.at,
        row.actor,
        row.action,
        row.target,
        row.reason,
        dict(row.details),
    )
    if digest != row.hash:
        return "the entry was changed after it was written (hash mismatch)"
    return None


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=utc(row.at),
        actor=row.actor,
        action=row.action,
        target=row.target,
        reason=row.reason,
        details=dict(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
