"""The door's pure parts: challenges, session tokens, names, ages, backoff, suspects, blocks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duet.person import Person
from signaling.config.door import ChallengeSettings, LimitSettings
from signaling.door.challenge import ChallengeFailed, Challenges, solve
from signaling.door.limits import ChatBackoff, RateLimits, Suspects
from signaling.door.sessions import (
    Claims,
    Refusals,
    SessionRefused,
    TokenCodec,
    check_age,
    check_display_name,
)
from signaling.room.blocks import Blocks
from signaling.room.reports import VerbalWeights, reporter_keys
from tests.support.room import FakeClock

EASY = ChallengeSettings(max_number=2_000, suspect_max_number=20_000, expires_s=60)


class Wall:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


# --- challenges -----------------------------------------------------------------------


def test_a_solved_challenge_is_accepted_once() -> None:
    challenges = Challenges(EASY, "secret")
    challenge = challenges.issue(hard=False)
    assert challenge["maxNumber"] == 2_000 and challenge["algorithm"] == "SHA-256"
    payload = solve(challenge)
    assert challenges.verify(payload, need_hard=False).hard is False
    with pytest.raises(ChallengeFailed) as reused:
        challenges.verify(payload, need_hard=False)
    assert reused.value.code == "challenge_reused"


def test_an_expired_or_forged_challenge_is_refused() -> None:
    wall = Wall()
    challenges = Challenges(EASY, "secret", now=wall)
    payload = solve(challenges.issue(hard=False))
    other = Challenges(EASY, "another secret", now=wall)
    with pytest.raises(ChallengeFailed) as forged:
        other.verify(payload, need_hard=False)
    assert forged.value.code == "challenge_invalid"
    # A wrong number: decode, change, re-encode.
    data = json.loads(base64.b64decode(payload))
    data["number"] += 1
    wrong = base64.b64encode(json.dumps(data).encode()).decode()
    with pytest.raises(ChallengeFailed):
        challenges.verify(wrong, need_hard=False)
    # Expiry is checked against the injected clock: valid just before, refused just after.
    fresh = solve(challenges.issue(hard=False))
    stale = solve(challenges.issue(hard=False))
    wall.at += timedelta(seconds=EASY.expires_s - 1)
    assert challenges.verify(fresh, need_hard=False).hard is False
    wall.at += timedelta(seconds=2)
    with pytest.raises(ChallengeFailed) as expired:
        challenges.verify(stale, need_hard=False)
    assert expired.value.code == "challenge_expired"


def test_a_suspect_needs_the_hard_challenge() -> None:
    challenges = Challenges(EASY, "secret")
    easy = solve(challenges.issue(hard=False))
    with pytest.raises(ChallengeFailed) as too_easy:
        challenges.verify(easy, need_hard=True)
    assert too_easy.value.code == "challenge_too_easy"
    hard = challenges.issue(hard=True)
    assert hard["maxNumber"] == 20_000
    assert challenges.verify(solve(hard), need_hard=True).hard


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=300),
        st.binary(max_size=50).map(lambda b: base64.b64encode(b).decode()),
        st.dictionaries(st.text(max_size=10), st.integers()),
    )
)
def test_garbage_solutions_are_refused_cleanly(garbage: object) -> None:
    challenges = Challenges(EASY, "secret")
    with pytest.raises(ChallengeFailed):
        challenges.verify(garbage, need_hard=False)


# --- session tokens -------------------------------------------------------------------


CLAIMS = Claims(session="s_1", device="d" * 20, name="Ada", expires=2_000_000_000.0)


def test_a_token_round_trips_and_expires() -> None:
    codec = TokenCodec("secret")
    token = codec.sign(CLAIMS)
    assert codec.verify(token, now=1_000_000_000.0) == CLAIMS
    assert codec.verify(token, now=2_000_000_000.0) is None  # expired
    assert TokenCodec("other").verify(token, now=0) is None


@given(st.data())
def test_any_tampering_with_a_token_is_refused(data: st.DataObject) -> None:
    codec = TokenCodec("secret")
    token = codec.sign(CLAIMS)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    tampered = token[:index] + replacement + token[index + 1 :]
    if tampered != token:
        verified = codec.verify(tampered, now=0)
        # base64 padding bits can absorb a change of the last character's low bits only if
        # the decoded bytes are identical, in which case the token is genuinely the same.
        assert verified is None or verified == CLAIMS


def test_forged_claims_with_a_valid_looking_shape_are_refused() -> None:
    codec = TokenCodec("secret")
    body = base64.urlsafe_b64encode(b'{"s":"s_x","d":"dddddddddddddddd","n":null,"e":9999999999}')
    assert codec.verify(body.decode().rstrip("=") + ".AAAA", now=0) is None
    assert codec.verify("", now=0) is None and codec.verify("a.b.c", now=0) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, None),
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Zoë-O'Neil", "Zoë-O'Neil"),
        ("   ", None),
        ("ＡＢＣ", "ABC"),  # full-width letters, NFKC-normalised
        ("tab\there", "tab here"),
    ],
)
def test_display_names_are_normalised(name: str | None, expected: str | None) -> None:
    assert check_display_name(name, 24) == expected


@pytest.mark.parametrize(
    "name",
    ["<img src=x onerror=alert(1)>", "a" * 25, "x\u200by", "emoji 😀", 42, "a/b"],
)
def test_display_names_with_markup_or_oddities_are_refused(name: object) -> None:
    with pytest.raises(SessionRefused):
        check_display_name(name, 24)


def test_the_age_gate() -> None:
    assert check_age(2008, True, 2026, 18) is True
    assert check_age(2009, True, 2026, 18) is False
    for year, adult in [(2008, False), ("2000", True), (True, True), (1800, True), (2030, True)]:
        with pytest.raises(SessionRefused):
            check_age(year, adult, 2026, 18)


def test_refusals_are_remembered_for_a_while_and_bounded() -> None:
    clock = FakeClock()
    refusals = Refusals(ttl=100, clock=clock, max_size=3)
    refusals.add("a")
    assert "a" in refusals
    clock.advance(101)
    assert "a" not in refusals
    refusals.add("a")
    clock.advance(60)
    refusals.add("a")  # refused again: its time starts over
    clock.advance(60)
    assert "a" in refusals
    clock.advance(40)
    assert "a" not in refusals
    for device in "bcde":
        refusals.add(device)
    assert len(refusals) == 3 and "b" not in refusals


# --- limits ---------------------------------------------------------------------------


def test_chat_backoff_doubles_up_to_the_cap_then_disconnects() -> None:
    clock = FakeClock()
    backoff = ChatBackoff(10, 300, violations_to_disconnect=8, clock=clock)
    timeouts = []
    for _ in range(7):
        result = backoff.tripped("s")
        timeouts.append(result.retry_after)
        clock.advance(result.retry_after)
        assert backoff.check("s").outcome == "ok"
    assert timeouts == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.tripped("s").outcome == "disconnect"


def test_chat_backoff_is_forgotten_after_a_quiet_while_and_bounded() -> None:
    clock = FakeClock()
    backoff = ChatBackoff(10, 300, violations_to_disconnect=10, clock=clock, max_keys=2)
    backoff.tripped("old")
    clock.advance(1_000)
    backoff.tripped("new")
    assert backoff.level("old") == 0 and backoff.level("new") == 1
    backoff.tripped("x"), backoff.tripped("y")
    assert len(backoff) == 2


async def test_rate_limits_count_per_key_and_exempt_networks() -> None:
    limits = RateLimits(
        LimitSettings(sessions_per_ip="2 per minute", exempt_networks=["192.0.2.0/24"])
    )
    assert [await limits.hit("sessions_per_ip", "10.0.0.1") for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert await limits.hit("sessions_per_ip", "10.0.0.2")
    assert all([await limits.hit("sessions_per_ip", "192.0.2.7") for _ in range(10)])
    assert 1 <= await limits.retry_after("sessions_per_ip", "10.0.0.1") <= 60
    assert limits.refused["sessions_per_ip"] == 1


def test_bad_limits_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="not a rate limit"):
        LimitSettings(chat="lots")
    with pytest.raises(ValueError):
        LimitSettings(exempt_networks=["not a network"])


def test_suspects_expire_and_are_bounded() -> None:
    clock = FakeClock()
    suspects = Suspects(ttl=60, clock=clock, max_size=2)
    suspects.mark("ip:1", None)
    assert suspects.any("ip:1") and not suspects.any("ip:2", None)
    clock.advance(61)
    assert not suspects.any("ip:1")
    suspects.mark("a", "b", "c")
    assert len(suspects) == 2


# --- blocks and report weights --------------------------------------------------------


def test_blocks_cover_session_device_and_ip_and_are_bounded() -> None:
    clock = FakeClock()
    blocks = Blocks(ttl_s=1_000, ip_ttl_s=10, clock=clock, max_per_blocker=6)
    a, b = Person("v", "1.1.1.1", "s_a", "d_a"), Person("v", "2.2.2.2", "s_b", "d_b")
    blocks.block(a, b)
    assert not blocks.allows(a, b) and not blocks.allows(b, a)
    assert not blocks.allows(Person("v", "2.2.2.2", "s_new", "d_new"), a)  # b's IP
    assert not blocks.allows(Person("v", "3.3.3.3", None, "d_b"), a)  # b's device
    assert blocks.allows(Person("v", "1.1.1.1", "s_a2", "d_a2"), b)  # a's NAT is not shut out
    clock.advance(11)
    assert blocks.allows(Person("v", "2.2.2.2", "s_new", "d_new"), a)  # IP part expired
    assert not blocks.allows(a, b)
    for n in range(5):
        blocks.block(a, Person("v", f"9.9.9.{n}", f"s_{n}", None))
    assert blocks.allows(a, b)  # the oldest blocks were dropped (6 per blocker key)


def test_verbal_weights_count_distinct_reporters_in_a_window() -> None:
    clock = FakeClock()
    weights = VerbalWeights(window_s=100, clock=clock, max_targets=2)
    r1 = reporter_keys("s_1", "d_1", "1.1.1.1")
    assert weights.add("t", r1) == 1
    assert weights.add("t", r1) == 1
    assert weights.add("t", reporter_keys("s_2", "d_2", "1.1.1.1")) == 1  # same IP
    assert weights.add("t", reporter_keys("s_3", "d_3", "3.3.3.3")) == 2
    clock.advance(101)
    assert weights.add("t", reporter_keys("s_4", "d_4", "4.4.4.4")) == 1  # window passed
    weights.add("u", r1), weights.add("v", r1)
    assert weights.add("t", r1) == 1  # "t" was the oldest target: forgotten
