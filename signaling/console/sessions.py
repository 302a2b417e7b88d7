"""Reviewer sessions: the cookie, expiry (absolute and idle), and who is asking.

The cookie holds a random token (HttpOnly, SameSite=Strict, Path=/api, Secure over https);
the database holds only its SHA-256 (:class:`signaling.storage.accounts.ReviewerSessionStore`). A
session ends ``session_ttl_s`` after login or ``session_idle_s`` after its last request,
whichever comes first, and at logout; disabling an account ends its sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from signaling.config.console import AdminSettings
from signaling.config.keys import as_raw_keys
from signaling.console.csrf import csrf_token
from signaling.storage.accounts import Account, ReviewerSessionStore, Role

COOKIE = "duet_review"
COOKIE_PATH = "/api"
TOUCH_EVERY_S = 15.0
"""``last_seen_at`` is written at most this often per session (or a quarter of the idle
timeout, if shorter): idle expiry is that coarse."""

_RANK: dict[Role, int] = {"moderator": 1, "admin": 2}


@dataclass(frozen=True)
class Reviewer:
    """The logged-in reviewer making a request."""

    account: Account
    session: str
    """The session's digest (its id in the database)."""
    csrf: str
    """The CSRF token this session's state-changing requests must send."""
    expires_at: datetime
    accepted_csrf: tuple[str, ...] = ()
    """Every CSRF token accepted for this session (one per key; ``csrf`` is the first)."""

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def role(self) -> Role:
        return self.account.role

    @property
    def actor(self) -> str:
        """How the audit log names this reviewer."""
        return f"reviewer:{self.account.name}"

    def may(self, role: Role) -> bool:
        """Whether this reviewer's role includes ``role`` (admin includes moderator)."""
        return _RANK[self.account.role] >= _RANK[role]


class ReviewerSessions:
    def __init__(
        self,
        settings: AdminSettings,
        store: ReviewerSessionStore,
        secret: bytes | Sequence[bytes],
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.store = store
        self.secrets = as_raw_keys(secret)
        self.secret = self.secrets[0]
        self.now = now

    async def open(self, account: Account, ip: str) -> tuple[str, str]:
        """A new session for ``account``: its token (for the cookie) and CSRF token."""
        now = self.now()
        await self.store.purge(now)
        expires = now + timedelta(seconds=self.settings.session_ttl_s)
        token = await self.store.create(account, ip, now, expires)
        return token, csrf_token(self.secret, token)

    async def resolve(self, token: str) -> Reviewer | None:
        """The reviewer of a cookie's token, or ``None`` if it is unknown, expired (ended
        then and there) or its account is disabled."""
        if not token or len(token) > 128:
            return None
        session = await self.store.find(token)
        if session is None:
            return None
        now = self.now()
        idle_end = session.last_seen_at + timedelta(seconds=self.settings.session_idle_s)
        if session.account.disabled or now >= session.expires_at or now >= idle_end:
            await self.store.end(session.digest)
            return None
        touch_every = min(TOUCH_EVERY_S, self.settings.session_idle_s / 4)
        if (now - session.last_seen_at).total_seconds() >= touch_every:
            await self.store.touch(session.digest, now)
        expires = min(session.expires_at, now + timedelta(seconds=self.settings.session_idle_s))
        accepted = tuple(csrf_token(key, token) for key in self.secrets)
        return Reviewer(session.account, session.digest, accepted[0], expires, accepted)

    async def close(self, reviewer: Reviewer) -> None:
        await self.store.end(reviewer.session)

    def set_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.settings.session_ttl_s),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie or request.url.scheme == "https",
        )

    def clear_cookie(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            COOKIE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie or request.url.scheme == "https",
        )
