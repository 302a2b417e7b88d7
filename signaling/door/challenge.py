"""The proof-of-work challenge: ALTCHA v1 (``altcha`` package), solved by the browser.

A challenge is ``SHA-256(salt + n)`` for a secret ``n`` in ``0..max_number``, signed with
an HMAC of the node's secret key; the browser finds ``n`` by brute force (WebCrypto, in a
Web Worker) and sends it back. The salt carries the expiry and whether the challenge was
the hard one, so both are covered by the signature. Each solved challenge is accepted
once: used signatures are remembered until the challenge would have expired anyway.

Assumes one process: the used-signature set lives here. With several nodes a replay on
another node is possible until the scale-out work moves it to Redis.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, cast

from altcha.v1 import (
    ChallengeOptions,
    PayloadType,
    create_challenge,
    extract_params,
    verify_solution,
)
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from duet.clock import SYSTEM_CLOCK
from duet.errors import CodedError
from signaling.config.door import ChallengeSettings
from signaling.config.keys import as_keys

MAX_PAYLOAD_CHARS = 4_096
"""A solved challenge is a few hundred characters; anything longer is refused unread."""


class ChallengeFailed(CodedError):
    """A solved challenge was refused; ``code`` is stable (``challenge_invalid``,
    ``challenge_expired``, ``challenge_reused``, ``challenge_too_easy``)."""


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose derived from the node's ``secret_key`` (so that a token of one
    kind can never pass as another)."""
    return hashlib.sha256(f"duet:{purpose}:{secret}".encode()).digest()


@dataclass(frozen=True)
class Solved:
    """A verified solution."""

    hard: bool
    """Whether it was the suspects' (harder) challenge."""


class Challenges:
    """Issues and verifies challenges; remembers used ones (bounded)."""

    def __init__(
        self,
        settings: ChallengeSettings,
        secret: str | Sequence[str],
        now: Callable[[], datetime] = SYSTEM_CLOCK.wall,
        max_remembered: int = 200_000,
    ) -> None:
        self.settings = settings
        # The first key signs new challenges; all verify (key rotation).
        self._keys = [derive_key(key, "altcha").hex() for key in as_keys(secret)]
        self._key = self._keys[0]
        self._now = now
        # Used signatures, each remembered for as long as a challenge can stay valid
        # (``expires_s`` from its use, on the injected clock); the oldest go first when full.
        self._used: TTLCache[str, bool] = TTLCache(
            maxsize=max_remembered,
            ttl=settings.expires_s,
            timer=lambda: self._now().timestamp(),
        )

    def issue(self, hard: bool) -> dict[str, Any]:
        """A new challenge (the JSON the browser's solver takes)."""
        s = self.settings
        challenge = create_challenge(
            ChallengeOptions(
                hmac_key=self._key,
                max_number=s.suspect_max_number if hard else s.max_number,
                expires=self._now() + timedelta(seconds=s.expires_s),
                params={"hard": "1" if hard else "0"},
            )
        )
        return dict(challenge.to_dict())

    def verify(self, payload: object, need_hard: bool) -> Solved:
        """Check a solution (base64 JSON, as ALTCHA widgets send it, or the object itself)
        and mark it used. Raises :class:`ChallengeFailed`."""
        data = cast(PayloadType, _decode(payload))
        try:
            # Expiry is checked below against the injected clock, not altcha's time.time().
            ok = any(verify_solution(data, key, check_expires=False)[0] for key in self._keys)
            params = extract_params(data)
        except (TypeError, ValueError, AttributeError, UnicodeError):
            ok, params = False, {}
        if not ok:
            raise ChallengeFailed("challenge_invalid", "the challenge was not solved")
        if self._expired(params.get("expires")):
            raise ChallengeFailed("challenge_expired", "the challenge expired: solve a new one")
        hard = params.get("hard", ["0"])[0] == "1"
        if need_hard and not hard:
            raise ChallengeFailed(
                "challenge_too_easy", "this connection needs a harder challenge: solve a new one"
            )
        self._remember(str(data["signature"]))
        return Solved(hard=hard)

    def _expired(self, expires: list[str] | None) -> bool:
        """Whether the signed expiry (Unix seconds in the salt) lies before the clock's now.
        A challenge we issued always carries one; one without it is treated as expired."""
        try:
            at = int(expires[0]) if expires else None
        except ValueError:
            at = None
        return at is None or at < self._now().timestamp()

    def _remember(self, signature: str) -> None:
        if signature in self._used:
            raise ChallengeFailed("challenge_reused", "that challenge was already used")
        self._used[signature] = True


def _decode(payload: object) -> dict[str, Any]:
    if isinstance(payload, str):
        if len(payload) > MAX_PAYLOAD_CHARS:
            raise ChallengeFailed("challenge_invalid", "the challenge solution is too long")
        try:
            payload = json.loads(base64.b64decode(payload, validate=True).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ChallengeFailed(
                "challenge_invalid", "the challenge solution is garbled"
            ) from None
    if not isinstance(payload, dict):
        raise ChallengeFailed("challenge_invalid", "the challenge solution is garbled")
    try:
        return AltchaPayload.model_validate(payload).model_dump()
    except ValidationError as exc:
        raise ChallengeFailed("challenge_invalid", _complaint(exc)) from None


_Text = Annotated[str, Field(max_length=1_000)]


class AltchaPayload(BaseModel):
    """A solved ALTCHA v1 challenge as the browser sends it (strict: a number must be a
    JSON number, not a string or a boolean; other fields are ignored)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    algorithm: Literal["SHA-256"]
    challenge: _Text
    number: int
    salt: _Text
    signature: _Text


def _complaint(exc: ValidationError) -> str:
    """The person-readable reason of the first thing wrong with a payload."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "payload"
    if name == "algorithm" and error["type"] == "literal_error":
        return "only SHA-256 challenges are issued"
    if error["type"] == "string_too_long":
        return f"the solution's {name} is too long"
    return f"the solution's {name} is missing"


def solve(challenge: dict[str, Any]) -> str:
    """Solve a challenge the way a browser does (tests, benchmarks): the base64 payload."""
    salt, target = str(challenge["salt"]), str(challenge["challenge"])
    for number in range(int(challenge["maxNumber"]) + 1):
        if hashlib.sha256(f"{salt}{number}".encode()).hexdigest() == target:
            payload = {
                "algorithm": challenge["algorithm"],
                "challenge": target,
                "number": number,
                "salt": salt,
                "signature": challenge["signature"],
            }
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise ValueError("challenge has no solution")
