"""Resuming a visit after a dropped socket (a node restart, a network change).

``welcome`` carries a resume token: the visitor id and an HMAC of it bound to the session.
A browser that reconnects presents it (``/ws?resume=...``) with the same session and gets
the same visitor id back, so that what the shared queue kept under that id (its place in
line) is its again. A token is useless with another session, and never grants more than
a visitor id (a resumed visitor starts idle and joins again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from signaling.config.keys import as_raw_keys


def _mac(secret: bytes, visitor: str, session: str) -> str:
    digest = hmac.new(secret, f"resume|{visitor}|{session}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def resume_token(secret: bytes, visitor: str, session: str | None) -> str:
    return f"{visitor}.{_mac(secret, visitor, session or '')}"


def resumed_visitor(
    secret: bytes | Sequence[bytes], token: str | None, session: str | None
) -> str | None:
    """The visitor id in ``token`` if it was issued to ``session`` under any of the keys
    in ``secret`` (newest first), else None."""
    if not token or len(token) > 200 or "." not in token:
        return None
    visitor, _, mac = token.rpartition(".")
    if not visitor.startswith("v_") or not visitor[2:].isalnum():
        return None
    if not any(
        hmac.compare_digest(mac, _mac(key, visitor, session or "")) for key in as_raw_keys(secret)
    ):
        return None
    return visitor
