"""Secret keys: the generated key file, production's refusals, and rotation (first key
signs, every key verifies) for each kind of token Duet hands out."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from signaling.config.door import ChallengeSettings
from signaling.config.keys import KEY_FILE, KeyRing, key_ring, load_or_create
from signaling.config.settings import Settings
from signaling.console import csrf
from signaling.door.appeals import AppealTokens
from signaling.door.challenge import ChallengeFailed, Challenges, solve
from signaling.door.resume import resume_token, resumed_visitor
from signaling.door.sessions import Claims, TokenCodec

STRONG = "k" * 20 + "0123456789abcdef"  # 36 characters, 17 distinct
OLD, NEW = "old-key", "new-key"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the generated key file ---------------------------------------------------------


def test_a_missing_key_is_made_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_or_create(data)
    assert len(first) >= 32
    assert _mode(data / KEY_FILE) == 0o600
    assert load_or_create(data) == first
    assert load_or_create(tmp_path / "elsewhere") != first  # random, not a fixed default


def test_unconfigured_settings_take_the_key_file_and_configured_ones_do_not(
    tmp_path: Path,
) -> None:
    generated = key_ring(Settings(data_dir=tmp_path))
    assert generated.keys == ((tmp_path / KEY_FILE).read_text().strip(),)
    configured = key_ring(Settings(data_dir=tmp_path / "unused", secret_key="configured"))
    assert configured.keys == ("configured",)
    assert not (tmp_path / "unused").exists()
    ring = key_ring(Settings(data_dir=tmp_path, secret_keys=[NEW, OLD]))
    assert ring.keys == (NEW, OLD) and ring.signing == NEW


def test_a_key_file_others_can_read_is_narrowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("a-key-someone-wrote\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="signaling.config.keys"):
        assert load_or_create(tmp_path) == "a-key-someone-wrote"
    assert _mode(path) == 0o600
    assert "narrowed" in caplog.text


def test_an_empty_key_file_is_an_error_not_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_or_create(tmp_path)


# --- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"secret_key": "change-me"},
        {"secret_key": "short"},
        {"secret_key": "abcdefghij0123456789"},
        {"secret_key": "a" * 40},
        {"secret_keys": [STRONG, "weak"]},
    ],
)
def test_production_refuses_unset_or_weak_keys(keys: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="secret_key"):
        Settings(mode="production", **keys)  # type: ignore[arg-type]


def test_production_takes_strong_keys() -> None:
    source = "https://git.example.org/duet"
    one = Settings(mode="production", secret_key=STRONG, source_url=source)
    assert one.configured_keys() == (STRONG,)
    both = Settings(mode="production", secret_keys=[STRONG, STRONG[::-1]], source_url=source)
    assert both.configured_keys() == (STRONG, STRONG[::-1])


def test_secret_key_and_secret_keys_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(secret_key=STRONG, secret_keys=[STRONG])
    with pytest.raises(ValidationError, match="empty"):
        Settings(secret_keys=[STRONG, ""])


def test_the_placeholder_is_gone_from_the_defaults() -> None:
    assert Settings().configured_keys() == ()


# --- rotation: what the old key signed stays valid under [new, old] --------------------


def test_session_tokens_survive_a_rotation() -> None:
    claims = Claims("s_1", "d" * 20, None, expires=2_000_000_000.0)
    token = TokenCodec(OLD).sign(claims)
    assert TokenCodec([NEW, OLD]).verify(token, now=0) == claims
    assert TokenCodec([NEW]).verify(token, now=0) is None
    fresh = TokenCodec([NEW, OLD]).sign(claims)
    assert TokenCodec(NEW).verify(fresh, now=0) == claims  # the first key signs
    assert TokenCodec(OLD).verify(fresh, now=0) is None


def test_resume_tokens_survive_a_rotation() -> None:
    token = resume_token(OLD.encode(), "v_abc", "s_1")
    assert resumed_visitor((NEW.encode(), OLD.encode()), token, "s_1") == "v_abc"
    assert resumed_visitor((NEW.encode(),), token, "s_1") is None
    assert resumed_visitor((NEW.encode(), OLD.encode()), token, "s_2") is None


def test_appeal_tokens_survive_a_rotation() -> None:
    token = AppealTokens(OLD.encode()).issue("b_1")
    rotated = AppealTokens((NEW.encode(), OLD.encode()))
    assert rotated.ban_of(token) == "b_1"
    assert AppealTokens(NEW.encode()).ban_of(token) is None
    assert AppealTokens(NEW.encode()).ban_of(rotated.issue("b_1")) == "b_1"


def test_challenges_survive_a_rotation() -> None:
    settings = ChallengeSettings(max_number=500, suspect_max_number=1000)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    payload = solve(Challenges(settings, OLD, now=lambda: now).issue(hard=False))
    with pytest.raises(ChallengeFailed):
        Challenges(settings, NEW, now=lambda: now).verify(payload, need_hard=False)
    Challenges(settings, [NEW, OLD], now=lambda: now).verify(payload, need_hard=False)


def test_reviewer_csrf_tokens_survive_a_rotation() -> None:
    from starlette.requests import Request

    old_token = csrf.csrf_token(OLD.encode(), "session")
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/review/x",
        "headers": [(b"x-csrf-token", old_token.encode()), (b"host", b"h")],
    }
    request = Request(scope)
    ring = KeyRing.of(NEW, OLD)
    accepted = [csrf.csrf_token(key, "session") for key in ring.raw]
    assert csrf.valid(request, accepted)
    assert not csrf.valid(request, accepted[:1])
