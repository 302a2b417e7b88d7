"""The door itself: challenge in, session out. HTTP endpoints validate and delegate here.

``GET /api/challenge`` -> :meth:`Door.challenge`; ``POST /api/session`` ->
:meth:`Door.open_session`; ``/ws`` -> :meth:`Door.verify`. Bots (IPs or devices that
tripped a connect, join or next limit) get the harder challenge (:class:`Suspects`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from duet.clock import SYSTEM_CLOCK
from duet.errors import CodedError
from signaling.config.door import DoorSettings
from signaling.door.challenge import ChallengeFailed, Challenges
from signaling.door.limits import RateLimits, Suspects, device_key, ip_key
from signaling.door.request import SessionRequest, SessionRules
from signaling.door.sessions import (
    Claims,
    Refusals,
    SessionRefused,
    TokenCodec,
    new_session_id,
)

logger = logging.getLogger(__name__)


class SessionRecords(Protocol):
    """Where session records go (``signaling.storage.VisitorSessionStore``)."""

    async def created(
        self, session: str, device: str, created_at: datetime, expires_at: datetime
    ) -> None: ...


class DoorError(CodedError):
    """A refused door request: ``status`` (HTTP), stable ``code``, human ``message``."""

    def __init__(self, status: int, code: str, message: str, retry_after: int = 0) -> None:
        super().__init__(code, message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Issued:
    token: str
    claims: Claims


class Door:
    def __init__(
        self,
        settings: DoorSettings,
        secret: str | Sequence[str],
        limits: RateLimits,
        submit: Callable[[Callable[[], Awaitable[None]]], None] | None = None,
        records: SessionRecords | None = None,
        clock: Callable[[], float] = SYSTEM_CLOCK.now,
        wall: Callable[[], float] = lambda: SYSTEM_CLOCK.wall().timestamp(),
    ) -> None:
        """``submit`` runs a storage write in the background (the node's writer).
        ``clock``: monotonic seconds; ``wall``: POSIX seconds (token expiry, birth year),
        both from the node's :class:`duet.clock.Clock`."""
        self.settings = settings
        self.limits = limits
        self.challenges = Challenges(
            settings.challenge, secret, now=lambda: datetime.fromtimestamp(wall(), UTC)
        )
        self.codec = TokenCodec(secret)
        self.refusals = Refusals(settings.refusal_memory_s, clock)
        self.suspects = Suspects(settings.suspect_for_s, clock)
        self.submit = submit
        self.records = records
        self.wall = wall
        self.outcomes: Counter[str] = Counter()
        """Session requests by outcome (``created``, ``underage``, ``refused``, ...)."""

    # --- bots ---------------------------------------------------------------------------

    def suspect(self, ip: str, device: str | None) -> None:
        """``ip`` / ``device`` behaved like a bot: their next challenge is the hard one."""
        if self.limits.exempt(ip):
            return
        self.suspects.mark(ip_key(ip), device_key(device))

    def is_suspect(self, ip: str, device: str | None) -> bool:
        return self.suspects.any(ip_key(ip), device_key(device))

    # --- the two requests -------------------------------------------------------------

    def challenge(self, ip: str, device: str | None) -> dict[str, Any]:
        """A challenge for this browser (the hard one for suspects)."""
        if not self.settings.challenge.enabled:
            return {"enabled": False}
        hard = self.is_suspect(ip, device)
        return {"enabled": True, **self.challenges.issue(hard)}

    async def open_session(self, ip: str, body: object, refused_cookie: bool) -> Issued:
        """Check the age answer, the challenge and the inputs; issue a token. Raises
        :class:`DoorError`."""
        try:
            return await self._open(ip, body, refused_cookie)
        except DoorError as exc:
            self.outcomes[exc.code] += 1
            raise

    async def _open(self, ip: str, body: object, refused_cookie: bool) -> Issued:
        year = datetime.fromtimestamp(self.wall(), UTC).year
        rules = SessionRules(
            refused=lambda device: refused_cookie or device in self.refusals,
            name_max_length=self.settings.display_name_max_length,
            year=year,
            min_age=self.settings.min_age,
        )
        try:
            request = SessionRequest.model_validate(body, context=rules)
        except SessionRefused as exc:
            raise DoorError(403 if exc.code == "refused" else 400, exc.code, exc.message) from None
        except ValidationError:
            raise DoorError(400, "bad_request", "the session request is malformed") from None
        device, name, adult = request.device, request.name, request.old_enough
        if not await self.limits.hit("sessions_per_ip", ip):
            self.suspect(ip, device)
            retry = await self.limits.retry_after("sessions_per_ip", ip)
            raise DoorError(429, "rate_limited", "too many sessions from here", retry)
        if not adult:
            self.refusals.add(device)
            raise DoorError(
                403, "underage", f"Duet is only for people aged {self.settings.min_age} or over"
            )
        if self.settings.challenge.enabled:
            try:
                self.challenges.verify(request.altcha, need_hard=self.is_suspect(ip, device))
            except ChallengeFailed as exc:
                raise DoorError(400, exc.code, exc.message) from None
        now = self.wall()
        claims = Claims(new_session_id(), device, name, now + self.settings.session_ttl_s)
        self.outcomes["created"] += 1
        self._record(claims, now)
        return Issued(self.codec.sign(claims), claims)

    def verify(self, token: str | None) -> Claims | None:
        """The claims of a genuine, unexpired session token, else ``None``."""
        if not token:
            return None
        return self.codec.verify(token, self.wall())

    def _record(self, claims: Claims, now: float) -> None:
        records, submit = self.records, self.submit
        if records is None or submit is None:
            return
        created = datetime.fromtimestamp(now, UTC)
        expires = datetime.fromtimestamp(claims.expires, UTC)
        submit(lambda: records.created(claims.session, claims.device, created, expires))
