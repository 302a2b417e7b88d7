"""The pre-screen in the video moderator (fake frames, classifier and clock; real policy,
evidence files and breaker): what opens the gate, what keeps it shut, and what it costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moderation import MemoryStore, Moderation, ModerationSettings
from moderation.clock import FakeClock
from moderation.errors import WorkerDied
from moderation.ports import Screened, VideoState
from tests.unit.test_moderator import EXPLICIT, MINOR, SAFE, A, B, Checker, Enforcer, Frames


class Gate:
    """Screens with the frames of :class:`Frames` (keyframe = grab count); records what
    was released and told."""

    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self.released: list[tuple[str, str, int | None]] = []
        self.told: list[tuple[str, VideoState]] = []

    async def screen(self, visitor: str, timeout: float, max_side: int) -> Screened | None:
        frame = await self.frames.grab(visitor, timeout, max_side)
        if frame is None:
            await self.frames.clock.sleep_until(self.frames.clock.now() + timeout)
            return None
        return Screened(frame, len(self.frames.grabs))

    def release(self, visitor: str, match_id: str, keyframe: int | None) -> None:
        self.released.append((visitor, match_id, keyframe))

    def tell(self, visitor: str, match_id: str, state: VideoState) -> None:
        self.told.append((visitor, state))


def build(tmp_path: Path, **overrides: Any) -> tuple[Moderation, FakeClock, Frames, Checker, Gate]:
    settings = ModerationSettings(
        evidence_dir=tmp_path,
        schedule_offsets_s=[1, 3, 6],
        periodic_s=0,
        partner_stagger_s=0.5,
        evidence_clip_s=0,
        **overrides,
    )
    clock = FakeClock()
    frames, checker, store = Frames(clock), Checker(), MemoryStore()
    gate = Gate(frames)
    moderation = Moderation(
        settings, frames, Enforcer(store), store, clock=clock, checker=checker, gate=gate
    )
    video = moderation.video
    assert video is not None
    clock.busy = lambda: video.busy
    return moderation, clock, frames, checker, gate


async def test_safe_keyframes_open_at_once_and_replace_the_first_check(tmp_path: Path) -> None:
    moderation, clock, frames, _, gate = build(tmp_path)
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    # Both screened at the start (no stagger, no one-in-flight wait), each released with
    # the keyframe that was judged.
    assert sorted(v for v, _, _ in gate.released) == [A.visitor, B.visitor]
    assert all(keyframe is not None for _, _, keyframe in gate.released)
    assert [round(at - start, 2) for at, who in frames.grabs if who == A.visitor] == [0, 3, 6]
    assert [round(at - start, 2) for at, who in frames.grabs if who == B.visitor] == [0, 3.5, 6.5]
    assert moderation.stats.checks_run == 6  # as many model calls as without the pre-screen
    assert moderation.stats.prescreens["opened"] == 2
    assert (A.visitor, "checking") in gate.told and (A.visitor, "open") in gate.told


async def test_explicit_video_is_never_released(tmp_path: Path) -> None:
    moderation, clock, _, checker, gate = build(tmp_path)
    checker.script[1] = [EXPLICIT]
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert [v for v, _, _ in gate.released] == [B.visitor]
    assert moderation.stats.prescreens["held"] == 1 and moderation.stats.bans["video"] == 1


async def test_a_possible_minor_is_held_for_review(tmp_path: Path) -> None:
    moderation, clock, _, checker, gate = build(tmp_path)
    checker.script[1] = [MINOR]
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert [v for v, _, _ in gate.released] == [B.visitor]
    assert moderation.stats.review_items["high"] == 1  # a possible minor: always HIGH


async def test_breaker_open_fails_open_without_a_model_call(tmp_path: Path) -> None:
    moderation, clock, _, checker, gate = build(tmp_path, breaker_failures=1, breaker_cooloff_s=600)
    checker.script[1] = [WorkerDied("gone")]
    checker.script[2] = [WorkerDied("gone")]
    moderation.match_started("m1", A, B)
    await clock.advance(2)
    assert sorted((v, k) for v, _, k in gate.released) == [(A.visitor, None), (B.visitor, None)]
    run = moderation.stats.checks_run
    moderation.match_ended("m1")
    moderation.match_started("m2", A, B)
    await clock.advance(0.5)
    assert moderation.stats.prescreens["fail_open_breaker_open"] >= 3
    assert moderation.stats.checks_run == run
    assert [m for _, m, _ in gate.released].count("m2") == 2


async def test_no_frame_is_retried_at_a_bounded_rate(tmp_path: Path) -> None:
    moderation, clock, frames, _, gate = build(tmp_path, prescreen_retry_s=1.0, tap_timeout_s=0.2)
    frames.missing.add(A.visitor)
    moderation.match_started("m1", A, B)
    await clock.advance(5.05)
    attempts = [at for at, who in frames.grabs if who == A.visitor]
    assert len(attempts) == 6  # at 0, 1, 2, 3, 4, 5: never faster than once a second
    assert A.visitor not in [v for v, _, _ in gate.released]
    frames.missing.clear()
    await clock.advance(1)
    assert A.visitor in [v for v, _, _ in gate.released]


async def test_face_gate_keeps_a_faceless_video_shut(tmp_path: Path) -> None:
    moderation, clock, _, checker, gate = build(tmp_path, require_face=True, prescreen_retry_s=0.5)
    faced = SAFE.__class__(**{**SAFE.to_dict(), "faces": 1, "boxes": ()})
    checker.script[2] = [faced]
    moderation.match_started("m1", A, B)
    await clock.advance(3)
    assert [v for v, _, _ in gate.released] == [B.visitor]
    assert gate.told.count((A.visitor, "face_required")) == 1  # said once, not per check
    assert moderation.stats.face_gate["no_face"] >= 5 and moderation.stats.face_gate["face"] == 1


async def test_next_spam_never_buys_unscreened_video(tmp_path: Path) -> None:
    # Over the visitor's own check rate the video stays held and is retried; only the
    # global rate, the daily budget or an open breaker fail open.
    moderation, clock, _, _, gate = build(tmp_path, visitor_checks_per_min=2, prescreen_retry_s=1)
    for n in range(3):  # three matches in a row: A's third screen is over A's rate
        moderation.match_ended(f"m{n}")
        moderation.match_started(f"m{n + 1}", A, B)
        await clock.advance(0.1)
    assert [m for v, m, _ in gate.released if v == A.visitor] == ["m1", "m2"]
    assert moderation.stats.checks_skipped["visitor_rate"] >= 1
    assert not [k for k in moderation.stats.prescreens if k.startswith("fail_open")]
    await clock.advance(30)  # the bucket refills: screened, then opened
    assert [m for v, m, _ in gate.released if v == A.visitor] == ["m1", "m2", "m3"]
