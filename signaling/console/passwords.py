"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile).

Hashing costs ~64 MiB and a good tenth of a second of CPU, so it runs in a thread and at
most :data:`MAX_CONCURRENT` at once (bounded memory, and a login flood cannot starve the
event loop). A login for an unknown name still verifies against a dummy hash, so that
response times do not tell which names exist.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_CONCURRENT = 2
MAX_PASSWORD_LENGTH = 1024
"""Longer passwords are refused before hashing (hashing cost grows with the input)."""


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """Whether ``password`` matches ``stored`` (``None``: no such account, compare with
        a dummy anyway), and a fresh hash when ``stored`` used outdated parameters."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False, None
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("duet-dummy-password")
            await self._check(self._dummy, password)
            return False, None
        if not await self._check(stored, password):
            return False, None
        if self.hasher.check_needs_rehash(stored):
            return True, await self.hash(password)
        return True, None

    async def _check(self, stored: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self.hasher.verify, stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
