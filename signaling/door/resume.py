"""Resuming a visit after a dropped socket (a node restart, a network change).

``welcome`` carries a resume token: the visitor id and the session it was issued to,
signed (itsdangerous, salt ``duet.resume``, see :mod:`signaling.config.signing`). A browser
that reconnects presents it (``/ws?resume=...``) with the same session and gets the same
visitor id back, so that what the shared queue kept under that id (its place in line) is
its again. A token is useless with another session, and never grants more than a visitor
id (a resumed visitor starts idle and joins again). The token is opaque to the browser.
"""

from __future__ import annotations

from collections.abc import Sequence

from itsdangerous import BadSignature

from signaling.config.keys import as_raw_keys
from signaling.config.signing import serializer

MAX_TOKEN_CHARS = 200


def resume_token(secret: bytes | Sequence[bytes], visitor: str, session: str | None) -> str:
    """A token for ``visitor`` bound to ``session``, signed with the first key of
    ``secret``."""
    return serializer(as_raw_keys(secret), "resume").dumps([visitor, session or ""])


def resumed_visitor(
    secret: bytes | Sequence[bytes], token: str | None, session: str | None
) -> str | None:
    """The visitor id in ``token`` if it was issued to ``session`` under any of the keys
    in ``secret`` (newest first), else None."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        visitor, bound = serializer(as_raw_keys(secret), "resume").loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(visitor, str) or bound != (session or ""):
        return None
    if not visitor.startswith("v_") or not visitor[2:].isalnum():
        return None
    return visitor
