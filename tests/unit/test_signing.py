"""Signed tokens (itsdangerous, :mod:`signaling.config.signing`): for session, resume,
appeal and reviewer CSRF tokens, a tampered token is refused, an expired session is
refused, a token made for another purpose is refused, and what an old key signed still
verifies while that key is in the ring (the first key signs)."""

from __future__ import annotations

import pytest

from signaling.config.signing import Purpose, serializer, signer
from signaling.console.csrf import csrf_token
from signaling.door.appeals import AppealTokens
from signaling.door.resume import resume_token, resumed_visitor
from signaling.door.sessions import Claims, TokenCodec

KEY, OLD, NEW = "the-key", "old-key", "new-key"
CLAIMS = Claims(session="s_1", device="d" * 20, name="Ada", expires=2_000_000_000.0)


def _flip(token: str, index: int) -> str:
    """``token`` with one character changed (to another URL-safe base64 one)."""
    swapped = "B" if token[index] == "A" else "A"
    return token[:index] + swapped + token[index + 1 :]


# --- tampering -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_tampered_session_token_is_refused(where: str) -> None:
    codec = TokenCodec(KEY)
    token = codec.sign(CLAIMS)
    index = 2 if where == "payload" else len(token) - 5
    assert codec.verify(token, now=0) == CLAIMS
    assert codec.verify(_flip(token, index), now=0) is None


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_tampered_resume_token_is_refused(where: str) -> None:
    token = resume_token(KEY.encode(), "v_abc", "s_1")
    index = 2 if where == "payload" else len(token) - 5
    assert resumed_visitor(KEY.encode(), token, "s_1") == "v_abc"
    assert resumed_visitor(KEY.encode(), _flip(token, index), "s_1") is None


def test_a_tampered_appeal_token_is_refused() -> None:
    tokens = AppealTokens(KEY.encode())
    token = tokens.issue("b_0123456789abcdef")
    assert tokens.ban_of(token) == "b_0123456789abcdef"
    assert tokens.ban_of(_flip(token, len(token) - 5)) is None
    # Another ban id with the first ban's signature: the id is what is signed.
    forged = "b_fedcba9876543210" + token[token.index(".") :]
    assert tokens.ban_of(forged) is None


# --- expiry (against the caller's clock, not the system's) -----------------------------


def test_a_session_token_is_refused_from_its_expiry_on() -> None:
    codec = TokenCodec(KEY)
    token = codec.sign(CLAIMS)
    assert codec.verify(token, now=CLAIMS.expires - 1) == CLAIMS
    assert codec.verify(token, now=CLAIMS.expires) is None
    assert codec.verify(token, now=CLAIMS.expires + 3600) is None


# --- purpose: one salt each -------------------------------------------------------------


def test_a_token_made_for_another_purpose_is_refused() -> None:
    raw = KEY.encode()
    # The same payloads, signed under the same key for the wrong purpose.
    payload = {"s": "s_1", "d": "d" * 20, "n": None, "e": 2_000_000_000}
    assert TokenCodec(KEY).verify(serializer(KEY, "resume").dumps(payload), now=0) is None
    assert resumed_visitor(raw, serializer(raw, "session").dumps(["v_abc", "s_1"]), "s_1") is None
    wrong = signer(raw, "csrf").sign("b_0123456789abcdef").decode()
    assert AppealTokens(raw).ban_of(wrong) is None
    # ... and the right purpose works, so the refusals above are the salt's doing.
    assert TokenCodec(KEY).verify(serializer(KEY, "session").dumps(payload), now=0) is not None
    assert resumed_visitor(raw, serializer(raw, "resume").dumps(["v_abc", "s_1"]), "s_1")
    right = signer(raw, "appeal").sign("b_0123456789abcdef").decode()
    assert AppealTokens(raw).ban_of(right) == "b_0123456789abcdef"
    assert csrf_token(raw, "session") != signer(raw, "appeal").get_signature("session").decode()


# --- rotation: the first key signs, every key verifies ---------------------------------


def test_the_first_key_of_the_ring_signs() -> None:
    purposes: tuple[Purpose, ...] = ("session", "resume", "appeal", "csrf")
    for purpose in purposes:
        made = signer([NEW, OLD], purpose).sign("x")
        assert signer(NEW, purpose).validate(made)
        assert not signer(OLD, purpose).validate(made)


def test_what_an_old_key_signed_verifies_while_it_is_in_the_ring() -> None:
    old_session = TokenCodec(OLD).sign(CLAIMS)
    assert TokenCodec([NEW, OLD]).verify(old_session, now=0) == CLAIMS
    assert TokenCodec(NEW).verify(old_session, now=0) is None  # dropped: refused
    old_resume = resume_token(OLD.encode(), "v_abc", "s_1")
    assert resumed_visitor((NEW.encode(), OLD.encode()), old_resume, "s_1") == "v_abc"
    old_appeal = AppealTokens(OLD.encode()).issue("b_1")
    assert AppealTokens((NEW.encode(), OLD.encode())).ban_of(old_appeal) == "b_1"


def test_signing_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        serializer([], "session")
    with pytest.raises(ValueError, match="key"):
        signer([NEW, ""], "appeal")
