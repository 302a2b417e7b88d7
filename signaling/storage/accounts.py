"""Reviewer accounts and their server-side sessions.

Passwords are stored only as argon2 hashes (:mod:`signaling.console.passwords` makes them);
sessions only as the SHA-256 of their token, so a leaked table logs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from signaling.storage.audit import AuditTransaction
from signaling.storage.db import Database, utc
from signaling.storage.tables import AccountRow, AdminSessionRow

Role = Literal["moderator", "admin"]
ROLES: tuple[Role, ...] = ("moderator", "admin")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NameTaken(Exception):
    """An account with that name exists already."""


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: Role
    created_at: datetime
    disabled: bool
    last_login_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "disabled": self.disabled,
            "last_login_at": None if self.last_login_at is None else self.last_login_at.isoformat(),
        }


@dataclass(frozen=True)
class Session:
    digest: str
    account: Account
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


def _account(row: AccountRow) -> Account:
    role: Role = "admin" if row.role == "admin" else "moderator"
    return Account(
        id=row.id,
        name=row.name,
        role=role,
        created_at=utc(row.created_at),
        disabled=row.disabled,
        last_login_at=None if row.last_login_at is None else utc(row.last_login_at),
    )


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, tx: AuditTransaction, name: str, role: Role, password_hash: str, now: datetime
    ) -> Account:
        """Add an account inside ``tx``; :class:`NameTaken` if the name is in use."""
        existing = await tx.session.execute(select(AccountRow.id).where(AccountRow.name == name))
        if existing.first() is not None:
            raise NameTaken(name)
        row = AccountRow(
            id="a_" + secrets.token_hex(8),
            name=name,
            role=role,
            password_hash=password_hash,
            created_at=utc(now),
            disabled=False,
        )
        tx.session.add(row)
        try:
            await tx.session.flush()
        except IntegrityError:
            raise NameTaken(name) from None
        return _account(row)

    async def credentials(self, name: str) -> tuple[Account, str] | None:
        """The account called ``name`` and its password hash."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(select(AccountRow).where(AccountRow.name == name))
            ).scalar_one_or_none()
        return None if row is None else (_account(row), row.password_hash)

    async def get(self, account_id: str) -> Account | None:
        async with self.db.sessions() as session:
            row = await session.get(AccountRow, account_id)
        return None if row is None else _account(row)

    async def all(self, limit: int = 500) -> list[Account]:
        query = select(AccountRow).order_by(AccountRow.name).limit(limit)
        return [_account(row) for row in await self.db.rows(query)]

    async def logged_in(self, account_id: str, now: datetime, new_hash: str | None) -> None:
        """Record a successful login (and an upgraded hash when the parameters changed)."""
        values: dict[str, object] = {"last_login_at": utc(now)}
        if new_hash is not None:
            values["password_hash"] = new_hash
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(AccountRow).where(AccountRow.id == account_id).values(**values)
            )

    async def set_disabled(self, tx: AuditTransaction, account_id: str, disabled: bool) -> bool:
        """Disable (or enable) an account inside ``tx``; disabling ends its sessions."""
        result = await tx.session.execute(
            update(AccountRow).where(AccountRow.id == account_id).values(disabled=disabled)
        )
        if disabled:
            await tx.session.execute(
                delete(AdminSessionRow).where(AdminSessionRow.account_id == account_id)
            )
        return bool(getattr(result, "rowcount", 0))


class ReviewerSessionStore:
    """Server-side reviewer sessions (one row per login)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, account: Account, ip: str, now: datetime, expires_at: datetime) -> str:
        """A new session; returns its token (only its digest is stored)."""
        token = secrets.token_urlsafe(32)
        async with self.db.sessions.begin() as session:
            session.add(
                AdminSessionRow(
                    id=token_digest(token),
                    account_id=account.id,
                    created_at=utc(now),
                    expires_at=utc(expires_at),
                    last_seen_at=utc(now),
                    ip=ip[:64],
                )
            )
        return token

    async def find(self, token: str) -> Session | None:
        """The session of ``token`` with its account (expiry is the caller's to judge)."""
        digest = token_digest(token)
        query = (
            select(AdminSessionRow, AccountRow)
            .join(AccountRow, AccountRow.id == AdminSessionRow.account_id)
            .where(AdminSessionRow.id == digest)
        )
        async with self.db.sessions() as session:
            found = (await session.execute(query)).first()
        if found is None:
            return None
        row, account = found
        return Session(
            digest=digest,
            account=_account(account),
            created_at=utc(row.created_at),
            expires_at=utc(row.expires_at),
            last_seen_at=utc(row.last_seen_at),
        )

    async def touch(self, digest: str, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(AdminSessionRow)
                .where(AdminSessionRow.id == digest)
                .values(last_seen_at=utc(now))
            )

    async def end(self, digest: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(delete(AdminSessionRow).where(AdminSessionRow.id == digest))

    async def purge(self, before: datetime) -> None:
        """Forget sessions that expired before ``before``."""
        async with self.db.sessions.begin() as session:
            await session.execute(
                delete(AdminSessionRow).where(AdminSessionRow.expires_at < utc(before))
            )
