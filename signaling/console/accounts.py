"""Creating and disabling reviewer accounts (``duet admin create-user`` and the console).

Names are case-insensitive (stored lower-case): 2 to 32 of ``a-z 0-9 _ . -``, starting
with a letter or digit. Passwords: at least ``admin.min_password_length`` characters, at
most 1024; only their argon2 hash is stored. Both actions are audited.
"""

from __future__ import annotations

import re

from signaling.console.passwords import MAX_PASSWORD_LENGTH, Passwords
from signaling.storage.accounts import ROLES, Account, AccountStore, Role
from signaling.storage.audit import AuditLog, AuditTransaction

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


class AccountError(ValueError):
    pass


def normalise_name(name: str) -> str:
    return name.strip().lower()


def check_new_account(name: str, role: str, password: str, min_length: int) -> None:
    if not NAME.match(name):
        raise AccountError(
            "names are 2 to 32 characters of a-z, 0-9, '_', '.', '-', starting with a "
            "letter or digit"
        )
    if role not in ROLES:
        raise AccountError(f"the role is one of {', '.join(ROLES)}")
    if len(password) < min_length:
        raise AccountError(f"the password needs at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password is limited to {MAX_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.isprintable():
        raise AccountError("the password has leading/trailing spaces or control characters")


async def create_account(
    audit: AuditLog,
    accounts: AccountStore,
    passwords: Passwords,
    name: str,
    role: Role,
    password: str,
    min_length: int,
    actor: str,
) -> Account:
    """Validate, hash and store a new account; :class:`AccountError` or
    :class:`~signaling.storage.accounts.NameTaken` when refused."""
    name = normalise_name(name)
    check_new_account(name, role, password, min_length)
    password_hash = await passwords.hash(password)

    async def work(tx: AuditTransaction) -> Account:
        account = await accounts.create(tx, name, role, password_hash, audit.now())
        await tx.append(actor, "account.created", f"account:{name}", "", {"role": role})
        return account

    return await audit.run(work)


async def set_disabled(
    audit: AuditLog,
    accounts: AccountStore,
    account: Account,
    disabled: bool,
    reason: str,
    actor: str,
) -> None:
    """Disable (ending its sessions) or re-enable an account."""

    async def work(tx: AuditTransaction) -> None:
        await accounts.set_disabled(tx, account.id, disabled)
        action = "account.disabled" if disabled else "account.enabled"
        await tx.append(actor, action, f"account:{account.name}", reason)

    await audit.run(work)
