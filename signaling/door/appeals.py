"""Appeals from the banned visitor's side: the ``banned`` event, filing, the decision.

A ban's appeal token is the ban id signed with itsdangerous (``<ban id>.<signature>``, salt
``duet.appeal``, see :mod:`signaling.config.signing`): only the banned visitor ever receives
it (in the ``banned`` event), it cannot be guessed or forged for another ban, and nothing
needs storing. Whoever holds it may file the one appeal of that ban and read its decision.
Tokens are signed with the first key of the ring and accepted under any (``secret_keys``):
rotating keeps them valid until the old key is dropped (then their visitors get a fresh one
the next time they arrive).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from itsdangerous import BadSignature

from duet.errors import CodedError
from moderation.records import BanRecord
from moderation.text import sanitise
from signaling.config.keys import as_raw_keys
from signaling.config.signing import signer
from signaling.protocol import AppealInfo, AppealStatus, BannedEvent
from signaling.storage.appeals import AlreadyAppealed, AppealRecord, AppealStore
from signaling.storage.bans import BanStore

MAX_TOKEN_CHARS = 120


class AppealRefused(CodedError):
    """The appeal cannot be filed; ``code`` is stable (``bad_token``, ``not_banned``,
    ``already_appealed``, ``empty``, ``too_long``)."""


class AppealTokens:
    """Issues tokens under the first key of ``secret``; accepts them under any."""

    def __init__(self, secret: bytes | Sequence[bytes]) -> None:
        self._signer = signer(as_raw_keys(secret), "appeal")

    def issue(self, ban_id: str) -> str:
        return self._signer.sign(ban_id).decode()

    def ban_of(self, token: str) -> str | None:
        """The ban id a genuine token is for, or ``None``."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            ban_id = self._signer.unsign(token).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        return ban_id or None


@dataclass(frozen=True)
class AppealState:
    """What the visitor holding a token may know: their ban and their appeal."""

    ban: BanRecord
    appeal: AppealRecord | None
    now: datetime

    def as_dict(self) -> dict[str, Any]:
        decided = self.appeal is not None and not self.appeal.pending
        decision = self.appeal.status if decided and self.appeal else None
        decided_at = self.appeal.decided_at if decided and self.appeal else None
        if self.ban.lifted_at is not None:
            # Lifted by a reviewer (an overturned appeal, a QA check that found the
            # automatic ban wrong, an unban): the visitor is told as for an overturned appeal.
            decision, decided_at = "overturned", decided_at or self.ban.lifted_at
        return {
            "ban": self.ban.id,
            "reason": self.ban.reason,
            "until": self.ban.until.isoformat(),
            "active": self.ban.active(self.now),
            "appeal": _status(self.appeal) if self.appeal else "none",
            "decision": decision,
            "decided_at": None if decided_at is None else decided_at.isoformat(),
        }


def _status(appeal: AppealRecord | None) -> AppealStatus:
    if appeal is None:
        return "none"
    return "pending" if appeal.pending else "upheld"


class BannedEvents(Protocol):
    """Makes the ``banned`` event of a ban (:class:`Appeals` does, with its appeal token)."""

    async def banned_event(
        self, ban: BanRecord, new: bool = False, owner: bool = True
    ) -> BannedEvent: ...


def owns(ban: BanRecord, session: str | None, device: str | None) -> bool:
    """Whether a visitor with ``session`` and ``device`` is the banned person (and so may
    have the appeal token), not just someone behind the same IP address. A ban recorded
    without session and device (by IP alone) cannot tell: everyone it covers may appeal."""
    if ban.session is None and ban.device is None:
        return True
    return (session is not None and session == ban.session) or (
        device is not None and device == ban.device
    )


class Appeals:
    def __init__(
        self,
        tokens: AppealTokens,
        bans: BanStore,
        appeals: AppealStore,
        max_length: int,
        now: Callable[[], datetime],
    ) -> None:
        self.tokens = tokens
        self.bans = bans
        self.appeals = appeals
        self.max_length = max_length
        self.now = now

    async def banned_event(
        self, ban: BanRecord, new: bool = False, owner: bool = True
    ) -> BannedEvent:
        """The ``banned`` event for ``ban`` (``new``: it was just made, so not appealed;
        ``owner``: sent to the banned person, with the appeal token; see :func:`owns`)."""
        appeal = None if new else await self.appeals.for_ban(ban.id)
        return BannedEvent(
            reason=ban.reason,
            until=ban.until.isoformat(),
            ban=ban.id,
            appeal=AppealInfo(
                token=self.tokens.issue(ban.id) if owner else None,
                status=_status(appeal),
                max_length=self.max_length,
            ),
        )

    async def state(self, token: str) -> AppealState:
        ban = await self._ban(token)
        return AppealState(ban, await self.appeals.for_ban(ban.id), self.now())

    async def file(self, token: str, text: str, ip: str) -> AppealRecord:
        """File the one appeal of the token's ban (sanitised text, length-limited)."""
        ban = await self._ban(token)
        if not ban.active(self.now()):
            raise AppealRefused("not_banned", "this ban is over: there is nothing to appeal")
        clean = sanitise(text).strip()
        if not clean:
            raise AppealRefused("empty", "write a few words about why the ban is wrong")
        if len(clean) > self.max_length:
            raise AppealRefused("too_long", f"appeals are limited to {self.max_length} characters")
        try:
            return await self.appeals.file(ban.id, ip, clean, self.now())
        except AlreadyAppealed:
            raise AppealRefused("already_appealed", "this ban has been appealed already") from None

    async def _ban(self, token: str) -> BanRecord:
        ban_id = self.tokens.ban_of(token)
        ban = None if ban_id is None else await self.bans.get(ban_id)
        if ban is None:
            raise AppealRefused("bad_token", "this appeal link is not valid")
        return ban
