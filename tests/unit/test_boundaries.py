"""Boundaries parsed with pydantic: the ALTCHA payload (``door.challenge.AltchaPayload``).
Bad input still gets the door's coded error (``challenge_invalid``) with a clear reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from signaling.config.door import ChallengeSettings
from signaling.door.challenge import ChallengeFailed, Challenges, solve

EASY = ChallengeSettings(max_number=500, suspect_max_number=1_000, expires_s=60)


def _payload(challenges: Challenges) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(solve(challenges.issue(hard=False))))
    return decoded


def _refusal(challenges: Challenges, payload: object) -> str:
    with pytest.raises(ChallengeFailed) as refused:
        challenges.verify(payload, need_hard=False)
    assert refused.value.code == "challenge_invalid"
    return refused.value.message


def test_a_solved_payload_is_accepted_as_an_object_or_base64_with_extra_fields() -> None:
    challenges = Challenges(EASY, "secret")
    assert challenges.verify({**_payload(challenges), "took": 12}, need_hard=False).hard is False
    encoded = base64.b64encode(json.dumps(_payload(challenges)).encode()).decode()
    assert challenges.verify(encoded, need_hard=False).hard is False


@pytest.mark.parametrize("number", ["7", True, 7.0, None])
def test_the_number_must_be_a_json_integer(number: object) -> None:
    challenges = Challenges(EASY, "secret")
    payload = {**_payload(challenges), "number": number}
    assert _refusal(challenges, payload) == "the solution's number is missing"


@pytest.mark.parametrize("field", ["challenge", "salt", "signature"])
def test_text_fields_must_be_short_strings(field: str) -> None:
    challenges = Challenges(EASY, "secret")
    payload = _payload(challenges)
    assert _refusal(challenges, {**payload, field: "a" * 1_001}).endswith(f"{field} is too long")
    assert _refusal(challenges, {**payload, field: 5}) == f"the solution's {field} is missing"
    del payload[field]
    assert _refusal(challenges, payload) == f"the solution's {field} is missing"


def test_only_sha256_is_accepted() -> None:
    challenges = Challenges(EASY, "secret")
    payload = {**_payload(challenges), "algorithm": "SHA-1"}
    assert _refusal(challenges, payload) == "only SHA-256 challenges are issued"


@pytest.mark.parametrize("payload", [[], "not base64!", 5, base64.b64encode(b"[1]").decode()])
def test_a_payload_that_is_not_an_object_is_garbled(payload: object) -> None:
    assert "garbled" in _refusal(Challenges(EASY, "secret"), payload)
