"""``duet admin create-user``, ``duet admin qa-report`` and ``duet audit verify``.

``create-user`` asks for the password twice (no echo), or reads one line from stdin with
``--password-stdin`` (for scripts); it applies pending migrations first, so it works on a
fresh database. ``audit verify`` walks the audit log's hash chain and exits 1 at the first
broken link (0: intact; it prints the last hash, worth keeping elsewhere). ``qa-report``
prints the measured precision of automatic actions (:mod:`signaling.console.qa_report`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from signaling.config.settings import Settings
from signaling.storage.accounts import ROLES, Role

ConfigOption = Callable[[argparse.ArgumentParser], None]
LoadSettings = Callable[[argparse.Namespace], Settings]


def read_password(args: argparse.Namespace, stdin: TextIO = sys.stdin) -> str:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise SystemExit("duet: the passwords differ")
    return first


async def _create_user(settings: Settings, name: str, role: Role, password: str) -> str:
    from signaling.console.accounts import AccountError, create_account
    from signaling.console.passwords import Passwords
    from signaling.storage.accounts import AccountStore, NameTaken
    from signaling.storage.audit import AuditLog
    from signaling.storage.db import Database

    db = Database(settings.database_url)
    try:
        await db.migrate()
        audit = AuditLog(db)
        account = await create_account(
            audit,
            AccountStore(db),
            Passwords(),
            name,
            role,
            password,
            settings.admin.min_password_length,
            "system:cli",
        )
    except AccountError as exc:
        raise SystemExit(f"duet: {exc}") from None
    except NameTaken:
        raise SystemExit(f"duet: an account named {name.strip().lower()!r} exists") from None
    finally:
        await db.close()
    return f"created {account.role} {account.name!r} ({account.id})"


async def _verify(settings: Settings) -> tuple[int, str]:
    from signaling.storage.audit import AuditLog
    from signaling.storage.db import Database

    db = Database(settings.database_url)
    try:
        result = await AuditLog(db).verify()
    finally:
        await db.close()
    if result.broken is not None:
        return 1, (
            f"audit log BROKEN at entry {result.broken.seq}: {result.broken.problem} "
            f"({result.entries} entries before it verify)"
        )
    return 0, f"audit log intact: {result.entries} entries, last hash {result.last_hash}"


def days_type(text: str) -> float:
    """``--days``: a number of days above 0 and at most 3650."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 0 < days <= 3650:
        raise argparse.ArgumentTypeError("days must be above 0 and at most 3650")
    return days


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config_option: ConfigOption,
    load_settings: LoadSettings,
) -> None:
    def create_user(args: argparse.Namespace) -> int:
        settings = load_settings(args)
        password = read_password(args)
        print(asyncio.run(_create_user(settings, args.name, args.role, password)))
        return 0

    def qa_report(args: argparse.Namespace) -> int:
        from signaling.console.qa_report import load_report, render

        settings = load_settings(args)
        days = args.days if args.days is not None else settings.moderation.qa_precision_days
        print(render(asyncio.run(load_report(settings, days)), args.json))
        return 0

    def verify(args: argparse.Namespace) -> int:
        status, message = asyncio.run(_verify(load_settings(args)))
        print(message, file=sys.stderr if status else sys.stdout)
        return status

    admin = commands.add_parser("admin", help="reviewer accounts")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser(
        "create-user", help="create a reviewer account (asks for its password)"
    )
    create.add_argument("name", help="account name (2-32 of a-z 0-9 _ . -)")
    create.add_argument("--role", choices=ROLES, required=True, help="moderator or admin")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    config_option(create)
    create.set_defaults(func=create_user)
    report = admin_commands.add_parser(
        "qa-report", help="measured precision of automatic bans and holds (QA decisions)"
    )
    report.add_argument(
        "--days",
        type=days_type,
        default=None,
        help="window in days (default moderation.qa_precision_days)",
    )
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    config_option(report)
    report.set_defaults(func=qa_report)

    audit = commands.add_parser("audit", help="the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    check = audit_commands.add_parser(
        "verify", help="check the audit log's hash chain; exit 1 at the first broken link"
    )
    config_option(check)
    check.set_defaults(func=verify)
