"""The node's secret keys: the ring (first signs, all verify) and the generated key file.

Every token Duet hands out (session tokens, resume tokens, appeal tokens, reviewer CSRF
tokens: itsdangerous, see :mod:`signaling.config.signing`; proof-of-work challenges,
media-pipe subscriptions: HMACs) is signed under a key derived from the ring's *first*
key, and is accepted under *any* of its keys. Rotating is then:
put a new key first and keep the old one second (``secret_keys = ["new", "old"]``), wait
until tokens signed with the old one have expired (the longest is a session,
``door.session_ttl_s``; appeal tokens are re-issued whenever a banned visitor comes back),
then drop it.

When no key is configured (development), :func:`key_ring` reads ``<data_dir>/secret_key``,
creating it on first start with a random key (mode 0600). Several nodes of one
installation must share their keys, so production refuses to start without configured
ones (see :mod:`signaling.config.settings`).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signaling.config.settings import Settings

logger = logging.getLogger(__name__)

KEY_FILE = "secret_key"
"""Name of the generated key file inside ``data_dir``."""

MIN_KEY_CHARS = 32
"""Shortest key production accepts (a generated key has 64 characters)."""


@dataclass(frozen=True)
class KeyRing:
    """Secret keys, newest first: the first signs, all verify. Never empty."""

    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.keys or any(not key for key in self.keys):
            raise ValueError("a key ring needs at least one non-empty key")

    @classmethod
    def of(cls, *keys: str) -> KeyRing:
        return cls(tuple(keys))

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A random key for this process only (tests and objects built without a node)."""
        return cls((secrets.token_urlsafe(48),))

    @property
    def signing(self) -> str:
        return self.keys[0]

    @property
    def raw(self) -> tuple[bytes, ...]:
        """The keys as bytes, newest first (for HMACs taken directly under a key)."""
        return tuple(key.encode() for key in self.keys)


def as_keys(secret: str | Sequence[str]) -> tuple[str, ...]:
    """One key or several (newest first) as a non-empty tuple."""
    keys = (secret,) if isinstance(secret, str) else tuple(secret)
    if not keys:
        raise ValueError("at least one key is needed")
    return keys


def as_raw_keys(secret: bytes | Sequence[bytes]) -> tuple[bytes, ...]:
    """One raw key or several (newest first) as a non-empty tuple."""
    keys = (secret,) if isinstance(secret, bytes) else tuple(secret)
    if not keys:
        raise ValueError("at least one key is needed")
    return keys


def load_or_create(data_dir: Path) -> str:
    """The key in ``data_dir/secret_key``, made (random, mode 0600) if the file is absent.

    Assumes ``data_dir`` is this node's own directory. A key file others may read is
    narrowed to 0600 with a warning; an empty or unreadable one is an error (``OSError``
    or ``ValueError``), never silently replaced: replacing it would log everyone out.
    """
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    logger.info("created a random secret key in %s (keep it: it signs every token)", path)
    return key


def _read_key(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s was readable by others (mode %o): narrowed to 0600", path, mode)
        path.chmod(0o600)
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{path} is empty: delete it to have a new key made, or fill it in")
    return key


def key_ring(settings: Settings) -> KeyRing:
    """The configured keys (``secret_keys``, else ``secret_key``), else the key file's."""
    configured = settings.configured_keys()
    if configured:
        return KeyRing(configured)
    return KeyRing.of(load_or_create(settings.data_dir))
