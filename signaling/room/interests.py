"""Interest tags and language codes as the matchmaker compares them.

A tag is NFKC-normalised, case-folded, trimmed, inner whitespace collapsed, and may hold
letters, digits, spaces and ``+ # . -`` (``c++``, ``c#``, ``sci-fi``), 1 to 24 characters.
Duplicates (after normalising) count once; at most :data:`MAX_INTERESTS` are kept. A
language is a BCP 47-looking code whose primary subtag (``pt`` of ``pt-BR``) is matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from signaling.protocol import MAX_INTERESTS, ProtocolError

MAX_TAG_LENGTH = 24
_TAG = re.compile(r"^[\w+#. -]+$")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(-[a-z0-9]{2,8})*$")


def normalise_interests(raw: Iterable[str]) -> tuple[str, ...]:
    """The normalised, de-duplicated tags (order kept); raises ``ProtocolError``
    (``invalid_message``) for a tag that is empty or not allowed."""
    tags: dict[str, None] = {}
    for item in raw:
        tag = " ".join(unicodedata.normalize("NFKC", item).casefold().split())
        if not tag or len(tag) > MAX_TAG_LENGTH or not _TAG.match(tag) or "_" in tag:
            shown = item[:24].encode("unicode_escape").decode()
            raise ProtocolError(
                "invalid_message",
                f"interest {shown!r}: 1-{MAX_TAG_LENGTH} letters, digits, spaces or + # . -",
            )
        tags[tag] = None
    if len(tags) > MAX_INTERESTS:
        raise ProtocolError("invalid_message", f"at most {MAX_INTERESTS} interests")
    return tuple(tags)


def normalise_language(raw: str | None) -> str | None:
    """The primary language subtag (``pt`` of ``pt-BR``), or ``None`` for none."""
    if raw is None or not raw.strip():
        return None
    code = raw.strip().lower().replace("_", "-")
    match = _LANGUAGE.match(code)
    if match is None:
        raise ProtocolError("invalid_message", "language must be a code such as 'en' or 'pt-BR'")
    return match.group(1)
