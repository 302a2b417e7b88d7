"""Policy branches: minors to review or hold, single-frame bans, accumulation, borderline."""

from __future__ import annotations

from moderation.policy import Policy
from moderation.settings import ModerationSettings
from moderation.verdict import Verdict


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def verdict(unsafe: bool = False, minor: bool = False, score: float = 0.0) -> Verdict:
    return Verdict(unsafe=unsafe, minor=minor, score=score, reason="test", source="fake")


def make() -> tuple[Policy, Tick]:
    clock = Tick()
    settings = ModerationSettings(ban_score=0.85, window_s=10, window_frames=3)
    return Policy(settings, clock), clock


def test_safe_frames_do_nothing() -> None:
    policy, _ = make()
    assert policy.decide("v", verdict()).action == "none"
    assert policy.settle("v").action == "none"


def test_possible_minor_is_reviewed_high_and_held_when_explicit_never_banned() -> None:
    policy, clock = make()
    alone = policy.decide("v", verdict(minor=True))
    assert (alone.action, alone.priority) == ("review", "high")
    explicit = policy.decide("v", verdict(unsafe=True, minor=True, score=0.99))
    assert (explicit.action, explicit.priority) == ("hold", "high")
    # Seen as a possible minor within the window: a later explicit frame with no face
    # visible holds too (never bans); after the window it is an ordinary ban.
    policy.forget("w")
    policy.decide("w", verdict(minor=True))
    clock.now += 5
    assert policy.decide("w", verdict(unsafe=True, score=0.99)).action == "hold"
    clock.now += 11
    assert policy.decide("w", verdict(unsafe=True, score=0.99)).action == "ban"


def test_one_very_confident_frame_bans() -> None:
    policy, _ = make()
    decision = policy.decide("v", verdict(unsafe=True, score=0.9))
    assert decision.action == "ban" and "0.90" in decision.reason


def test_frames_below_the_bar_accumulate_within_the_window() -> None:
    policy, clock = make()
    assert policy.decide("v", verdict(unsafe=True, score=0.6)).action == "confirm"
    clock.now += 2
    assert policy.decide("v", verdict(unsafe=True, score=0.6)).action == "confirm"
    clock.now += 2
    decision = policy.decide("v", verdict(unsafe=True, score=0.6))
    assert decision.action == "ban" and "3 frames" in decision.reason


def test_a_flicker_never_bans_and_becomes_a_borderline_review() -> None:
    policy, clock = make()
    for _ in range(5):  # one unsafe frame every 11 s: never three within 10 s
        assert policy.decide("v", verdict(unsafe=True, score=0.6)).action == "confirm"
        clock.now += 11
    assert policy.settle("v").action == "none"  # the window emptied
    policy.decide("v", verdict(unsafe=True, score=0.6))
    settled = policy.settle("v")
    assert (settled.action, settled.priority) == ("review", "normal")
    assert "borderline" in settled.reason


def test_windows_are_per_visitor() -> None:
    policy, _ = make()
    policy.decide("a", verdict(unsafe=True, score=0.6))
    policy.decide("a", verdict(unsafe=True, score=0.6))
    assert policy.decide("b", verdict(unsafe=True, score=0.6)).action == "confirm"
    policy.forget("a")
    assert policy.decide("a", verdict(unsafe=True, score=0.6)).action == "confirm"
