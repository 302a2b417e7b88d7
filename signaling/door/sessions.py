"""Sessions: the age gate's answer, a device id and an optional display name become a
signed, expiring token that ``/ws`` requires.

Token format: an itsdangerous ``URLSafeSerializer`` token (salt ``duet.session``, HMAC-SHA256,
see :mod:`signaling.config.signing`) of the JSON claims: session id, device id, display
name, expiry (Unix seconds, compared with the caller's clock). Opaque to the browser.
Nothing server-side is needed to check a token, so it survives restarts; a record of each
session is still stored (for bans by session and for retention).

An under-age answer is final for that browser: the device id is remembered here (bounded,
in memory, ``door.refusal_memory_s``) and a cookie says so too.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cachetools import TTLCache
from itsdangerous import BadSignature

from duet.errors import CodedError
from signaling.config.keys import as_keys
from signaling.config.signing import serializer

DEVICE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
"""A device id is random, made by the browser (``crypto.randomUUID`` or similar)."""

_NAME_PATTERN = re.compile(r"^[\w .'-]+$")
MAX_TOKEN_CHARS = 1_024


class SessionRefused(CodedError):
    """``code``: ``underage``, ``refused`` (an earlier under-age answer), ``bad_request``."""


@dataclass(frozen=True)
class Claims:
    """What a valid session token says."""

    session: str
    device: str
    name: str | None
    expires: float
    """Unix time the token stops being valid."""


class TokenCodec:
    """Signs session tokens with the first key of ``secret``; verifies them with any."""

    def __init__(self, secret: str | Sequence[str]) -> None:
        self._serializer = serializer(as_keys(secret), "session")

    def sign(self, claims: Claims) -> str:
        payload = {"s": claims.session, "d": claims.device, "n": claims.name}
        return self._serializer.dumps({**payload, "e": int(claims.expires)})

    def verify(self, token: str, now: float) -> Claims | None:
        """The claims of a genuine token that expires after ``now``, else ``None`` (never
        raises)."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            data = self._serializer.loads(token)
            claims = Claims(
                session=str(data["s"]),
                device=str(data["d"]),
                name=None if data["n"] is None else str(data["n"]),
                expires=float(data["e"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if claims.expires <= now:
            return None
        return claims


def check_device(device: object) -> str:
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise SessionRefused("bad_request", "device must be 16-64 letters, digits, '-' or '_'")
    return device


def check_display_name(name: object, max_length: int) -> str | None:
    """A display name, normalised (NFKC, spaces collapsed), or ``None`` for none. Letters,
    digits, spaces and ``_ . ' -`` only: no markup, no control or invisible characters."""
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > 4 * max_length:
        raise SessionRefused("bad_request", "display name must be text")
    clean = " ".join(unicodedata.normalize("NFKC", name).split())
    if not clean:
        return None
    if len(clean) > max_length:
        raise SessionRefused("bad_request", f"display name is limited to {max_length} characters")
    if not _NAME_PATTERN.match(clean):
        raise SessionRefused(
            "bad_request", "display name may contain letters, digits, spaces and _ . ' - only"
        )
    return clean


def check_age(birth_year: object, confirmed: object, current_year: int, min_age: int) -> bool:
    """Whether the answer says ``min_age`` or older. A birth year only tells the age to
    within a year, so the visitor also confirms it (the checkbox). Raises on a malformed
    answer."""
    if not isinstance(birth_year, int) or isinstance(birth_year, bool):
        raise SessionRefused("bad_request", "birth_year must be a whole number")
    if not 1900 <= birth_year <= current_year:
        raise SessionRefused("bad_request", "birth_year is not a plausible year")
    if confirmed is not True:
        raise SessionRefused("bad_request", "confirm that you are old enough (adult: true)")
    return current_year - birth_year >= min_age


class Refusals:
    """Devices whose under-age answer was refused, for ``ttl`` seconds (bounded, oldest
    forgotten first)."""

    def __init__(self, ttl: float, clock: Callable[[], float], max_size: int = 100_000) -> None:
        self.ttl = ttl
        self._until: TTLCache[str, bool] = TTLCache(maxsize=max_size, ttl=ttl, timer=clock)

    def add(self, device: str) -> None:
        """Refuse ``device`` for ``ttl`` seconds from now (again, if it already was)."""
        self._until[device] = True

    def __contains__(self, device: object) -> bool:
        return device in self._until

    def __len__(self) -> int:
        self._until.expire()
        return len(self._until)


def new_session_id() -> str:
    return "s_" + secrets.token_hex(12)
