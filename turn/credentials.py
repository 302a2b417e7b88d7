"""Time-limited TURN credentials in coturn's TURN REST scheme (``use-auth-secret``).

The username is the expiry as a Unix timestamp, optionally followed by ``:`` and an opaque
user id; the password is ``base64(HMAC-SHA1(secret, username))``. coturn recomputes the
HMAC with the same shared secret and refuses the credential once the timestamp is past.
Pure functions: the caller passes the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class TurnCredential:
    username: str
    password: str
    expires_at: int
    """Unix time after which coturn refuses the credential."""


def turn_password(secret: str, username: str) -> str:
    """coturn's password for ``username``: base64 of HMAC-SHA1 keyed with ``secret``."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def make_credential(
    secret: str, ttl_seconds: int, now: float, user: str | None = None
) -> TurnCredential:
    """A credential valid for ``ttl_seconds`` from ``now`` (Unix time)."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    if user is not None and ":" in user:
        raise ValueError("user must not contain ':'")
    expires_at = int(now) + ttl_seconds
    username = f"{expires_at}:{user}" if user else str(expires_at)
    return TurnCredential(username, turn_password(secret, username), expires_at)
