"""Signed tokens with itsdangerous, one salt per purpose, under the node's key ring.

Every text token Duet hands out (session, resume and appeal tokens, reviewer CSRF tokens)
is made here: :func:`serializer` for a JSON payload, :func:`signer` for a plain string.
The ring lists keys newest first (the first signs, all verify: see
:mod:`signaling.config.keys`); itsdangerous takes a list *oldest first* and signs with the
last, so the order is reversed here and nowhere else. The purpose is the salt, so a token
made for one purpose never verifies for another, even under the same key. Expiry is the
caller's: a token that expires carries its own deadline in its payload and the caller
compares it with its injected clock (itsdangerous' own timestamps read the system clock).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from itsdangerous import Signer, URLSafeSerializer

Purpose = Literal["session", "resume", "appeal", "csrf"]
"""What a token is for; each is its own salt."""


def _oldest_first(keys: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    ring = [keys] if isinstance(keys, str | bytes) else list(keys)
    if not ring or any(not key for key in ring):
        raise ValueError("signing needs at least one non-empty key")
    return [key.encode() if isinstance(key, str) else key for key in ring[::-1]]


def _salt(purpose: Purpose) -> str:
    return f"duet.{purpose}"


def serializer(keys: str | bytes | Sequence[str | bytes], purpose: Purpose) -> URLSafeSerializer:
    """Signs JSON payloads (URL-safe, HMAC-SHA256) with the first of ``keys`` (newest
    first); loads those signed with any of them. ``loads`` raises
    :class:`itsdangerous.BadSignature` (or a subclass) on anything not genuine."""
    return URLSafeSerializer(
        _oldest_first(keys),
        salt=_salt(purpose),
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def signer(keys: str | bytes | Sequence[str | bytes], purpose: Purpose) -> Signer:
    """Signs strings (``value.signature``, HMAC-SHA256) with the first of ``keys``; accepts
    signatures under any of them."""
    return Signer(_oldest_first(keys), salt=_salt(purpose), digest_method=hashlib.sha256)
