"""The video moderator end to end in one process: fake frames, fake classifier, fake clock,
real policy, real evidence files, memory store."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from duet.person import Person
from moderation import MemoryStore, Moderation, ModerationSettings, Verdict
from moderation.clock import FakeClock
from moderation.errors import WorkerDied
from moderation.records import BanRecord, ReviewItem

SAFE = Verdict(unsafe=False, minor=False, score=0.0, reason="ok", source="fake")
EXPLICIT = Verdict(unsafe=True, minor=False, score=0.95, reason="explicit", source="fake")
BORDERLINE = Verdict(unsafe=True, minor=False, score=0.6, reason="maybe", source="fake")
MINOR = Verdict(unsafe=False, minor=True, score=0.0, reason="young", source="fake", faces=1)
EXPLICIT_MINOR = Verdict(True, True, 0.99, "explicit, young", "fake", faces=1)
BORDERLINE_MINOR = Verdict(True, True, 0.6, "maybe, young", "fake", faces=1)

A, B = Person("v_a", "10.0.0.1"), Person("v_b", "10.0.0.2")


class Frames:
    """Each visitor's frame carries its index in pixel (0, 0); records every grab."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.grabs: list[tuple[float, str]] = []
        self.missing: set[str] = set()
        self.failing: dict[str, Exception] = {}
        """Visitors whose grab raises (the SFU's RPC timing out, its process gone)."""

    async def grab(self, visitor: str, timeout: float, max_side: int) -> Any:
        self.grabs.append((self.clock.now(), visitor))
        if visitor in self.failing:
            raise self.failing[visitor]
        if visitor in self.missing:
            return None
        frame = np.full((48, 64, 3), 100, dtype=np.uint8)
        frame[0, 0, 0] = 1 if visitor == A.visitor else 2
        return frame


class Checker:
    """Answers from a per-visitor script (the last answer repeats)."""

    def __init__(self) -> None:
        self.script: dict[int, list[Verdict | Exception]] = defaultdict(lambda: [SAFE])

    async def classify(self, frame: Any) -> Verdict:
        answers = self.script[int(frame[0, 0, 0])]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Enforcer:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.bans: list[BanRecord] = []
        self.holds: list[ReviewItem] = []
        self.recorded_first: list[bool] = []

    async def enforce(self, ban: BanRecord) -> None:
        self.recorded_first.append(ban in self.store.ban_records)
        self.bans.append(ban)

    async def hold(self, item: ReviewItem) -> None:
        self.recorded_first.append(item in self.store.review_items)
        self.holds.append(item)


def build(
    tmp_path: Path, **overrides: Any
) -> tuple[Moderation, FakeClock, Frames, Checker, Enforcer]:
    values: dict[str, Any] = {
        "evidence_dir": tmp_path,
        "schedule_offsets_s": [1, 3, 6],
        "periodic_s": 0,
        "partner_stagger_s": 0.5,
        **overrides,
    }
    settings = ModerationSettings(**values)
    clock = FakeClock()
    frames, checker, store = Frames(clock), Checker(), MemoryStore()
    enforcer = Enforcer(store)
    moderation = Moderation(settings, frames, enforcer, store, clock=clock, checker=checker)
    video = moderation.video
    assert video is not None
    clock.busy = lambda: video.busy
    return moderation, clock, frames, checker, enforcer


def grabs_of(frames: Frames, visitor: str, start: float) -> list[float]:
    return [round(at - start, 2) for at, who in frames.grabs if who == visitor and at >= start]


async def test_each_visitor_follows_its_own_front_loaded_schedule(tmp_path: Path) -> None:
    moderation, clock, frames, _, _ = build(tmp_path)
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert grabs_of(frames, A.visitor, start) == [1, 3, 6]
    assert grabs_of(frames, B.visitor, start) == [1.5, 3.5, 6.5]
    assert moderation.stats.checks_run == 6
    assert moderation.stats.verdicts["safe"] == 6
    assert moderation.stats.latency_s.count == 6

    # A new match is a fresh schedule; ending a match cancels what is left of its own.
    moderation.match_ended("m1")
    start = clock.now()
    moderation.match_started("m2", A, B)
    await clock.advance(3.2)
    moderation.match_ended("m2")
    await clock.advance(10)
    assert grabs_of(frames, A.visitor, start) == [1, 3]
    await moderation.close()


async def test_very_confident_frame_bans_after_recording_evidence(tmp_path: Path) -> None:
    moderation, clock, frames, checker, enforcer = build(tmp_path)
    checker.script[1] = [EXPLICIT]
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(1.1)
    assert len(enforcer.bans) == 1
    ban = enforcer.bans[0]
    assert (ban.visitor, ban.ip, ban.source) == (A.visitor, A.ip, "video")
    assert enforcer.recorded_first == [True]
    assert (ban.until - ban.created_at).total_seconds() == moderation.settings.ban_duration_s
    evidence = await moderation.store.evidence(ban.evidence_id or "")
    assert evidence is not None and evidence.match == "m1"
    data = (tmp_path / evidence.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == evidence.sha256
    assert (tmp_path / (evidence.blurred_path or "")).is_file()
    assert evidence.details["verdict"]["score"] == 0.95
    # A is no longer checked; B's schedule is untouched (here the fake enforcer does not
    # end the match, as the lobby would).
    await clock.advance(10)
    assert grabs_of(frames, A.visitor, start) == [1]
    assert grabs_of(frames, B.visitor, start) == [1.5, 3.5, 6.5]
    assert moderation.stats.checks_skipped["visitor_stopped"] == 1  # A at 3
    assert moderation.stats.bans["video"] == 1
    await moderation.close()


async def test_agreeing_frames_ban_within_two_seconds_of_the_first_check(tmp_path: Path) -> None:
    moderation, clock, _, checker, enforcer = build(tmp_path)
    checker.script[1] = [BORDERLINE]
    moderation.match_started("m1", A, B)
    await clock.advance(1.0)
    assert enforcer.bans == []  # one borderline frame is not enough
    await clock.advance(1.0)
    assert len(enforcer.bans) == 1
    assert "3 frames" in enforcer.bans[0].reason
    await moderation.close()


async def test_a_flicker_becomes_a_review_item_not_a_ban(tmp_path: Path) -> None:
    moderation, clock, _, checker, enforcer = build(tmp_path)
    checker.script[1] = [BORDERLINE, SAFE]
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert enforcer.bans == []
    (item,) = await moderation.store.reviews()
    assert (item.visitor, item.priority, item.match) == (A.visitor, "normal", "m1")
    assert "borderline" in item.reason
    assert moderation.stats.review_items["normal"] == 1
    await moderation.close()


async def test_possible_minor_is_reviewed_high_once_and_never_banned(tmp_path: Path) -> None:
    moderation, clock, frames, checker, enforcer = build(tmp_path)
    checker.script[2] = [MINOR]
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert enforcer.bans == [] and enforcer.holds == []
    (item,) = await moderation.store.reviews()
    assert (item.visitor, item.priority, item.hold_until) == (B.visitor, "high", None)
    # Not explicit: B is still checked -- its schedule plus quick re-checks after the
    # review-worthy verdict (0.4 s apart, from 1.5 s).
    grabs = grabs_of(frames, B.visitor, start)
    assert grabs[:4] == [1.5, 1.9, 2.3, 2.7] and {3.5, 6.5} <= set(grabs)
    await moderation.close()


async def test_possible_minor_in_explicit_video_is_held_never_banned(tmp_path: Path) -> None:
    moderation, clock, frames, checker, enforcer = build(tmp_path)
    checker.script[2] = [EXPLICIT_MINOR]
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(1.6)
    assert enforcer.bans == []
    (hold,) = enforcer.holds
    assert enforcer.recorded_first == [True]  # recorded before it was enforced
    assert (hold.visitor, hold.priority, hold.match) == (B.visitor, "high", "m1")
    assert hold.hold_until is not None
    held_for = (hold.hold_until - hold.created_at).total_seconds()
    assert held_for == moderation.settings.hold_max_s
    (item,) = await moderation.store.reviews()
    assert item.id == hold.id and "minor" in item.reason
    evidence = await moderation.store.evidence(hold.evidence_id)
    assert evidence is not None
    assert hashlib.sha256((tmp_path / evidence.path).read_bytes()).hexdigest() == evidence.sha256
    assert moderation.stats.holds == 1 and moderation.stats.review_items["high"] == 1
    # B is not checked again; A (the partner) keeps its whole schedule.
    await clock.advance(10)
    assert grabs_of(frames, B.visitor, start) == [1.5]
    assert grabs_of(frames, A.visitor, start) == [1, 3, 6]
    assert len(enforcer.holds) == 1 and enforcer.bans == []
    # Matched again later (the hold expired or a reviewer cleared it): checked again.
    moderation.match_ended("m1")
    checker.script[2] = [SAFE]
    start = clock.now()
    moderation.match_started("m2", A, B)
    await clock.advance(10)
    assert grabs_of(frames, B.visitor, start) == [1.5, 3.5, 6.5]
    await moderation.close()


async def test_possible_minor_with_agreeing_borderline_frames_is_held(tmp_path: Path) -> None:
    """The rolling window: a possible minor, then unsafe frames below ``ban_score`` until
    ``window_frames`` agree -> a hold, never a ban (even for frames with no face)."""
    moderation, clock, _, checker, enforcer = build(tmp_path)
    checker.script[1] = [BORDERLINE_MINOR, BORDERLINE, BORDERLINE]
    moderation.match_started("m1", A, B)
    await clock.advance(1.1)
    assert enforcer.holds == []  # one frame: HIGH review, re-checks follow
    (item,) = await moderation.store.reviews()
    assert item.priority == "high" and item.hold_until is None
    await clock.advance(1.0)
    (hold,) = enforcer.holds
    assert hold.visitor == A.visitor and enforcer.bans == []
    await moderation.close()


async def test_partner_of_a_borderline_case_is_still_checked(tmp_path: Path) -> None:
    moderation, clock, frames, checker, enforcer = build(tmp_path)
    checker.script[1] = [BORDERLINE, SAFE]  # A: one flicker -> borderline review item
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(3.0)
    (item,) = await moderation.store.reviews()
    assert item.visitor == A.visitor and "borderline" in item.reason
    checker.script[2] = [EXPLICIT]  # B turns explicit after A's borderline verdict
    await clock.advance(4.0)
    assert [b.visitor for b in enforcer.bans] == [B.visitor]
    assert grabs_of(frames, B.visitor, start) == [1.5, 3.5]
    # A itself: its schedule goes on after the borderline verdict (and its re-checks).
    assert {3.0, 6.0} <= set(grabs_of(frames, A.visitor, start))
    await moderation.close()


async def test_failures_open_the_breaker_and_checks_fail_open(tmp_path: Path) -> None:
    moderation, clock, frames, checker, _ = build(
        tmp_path,
        schedule_offsets_s=[1],
        periodic_s=1,
        breaker_failures=3,
        breaker_cooloff_s=5,
    )
    assert moderation.video is not None
    breaker = moderation.video.breaker
    frames.missing.add(B.visitor)  # B sends no video: only A's checks reach the classifier
    checker.script[1] = [WorkerDied("boom")] * 3 + [SAFE]
    moderation.match_started("m1", A, B)
    await clock.advance(2.9)
    assert breaker.state == "closed"  # two failures (t=1, 2)
    await clock.advance(0.2)
    assert breaker.state == "open"  # the third (t=3)
    await clock.advance(4.5)  # t=7.6: skipped, calls unmoderated
    # A's checks at 4, 5, 6, 7 and B's at 3.5 ... 7.5 (the breaker is asked before the tap).
    assert moderation.stats.checks_skipped["breaker_open"] == 9
    await clock.advance(1)  # t=8.1: cool-off over, the test check succeeds
    assert breaker.state == "closed"
    assert breaker.stats.transitions == {"open": 1, "half_open": 1, "closed": 1}
    assert moderation.stats.checks_failed["worker_died"] == 3
    assert moderation.stats.checks_skipped["no_frame"] > 0
    assert moderation.snapshot()["breaker"]["state"] == "closed"
    await moderation.close()


async def test_backstops_skip_and_count(tmp_path: Path) -> None:
    moderation, clock, _, _, _ = build(tmp_path, daily_budget=3)
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    skipped = moderation.stats.checks_skipped
    assert moderation.stats.checks_run == 3
    assert skipped["daily_budget"] == 3
    assert moderation.snapshot()["checks_skipped"] == dict(skipped)
    await moderation.close()

    moderation, clock, _, _, _ = build(tmp_path, max_checks_per_s=1)
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert moderation.stats.checks_run == 3  # B's checks come 0.5 s after A's
    assert moderation.stats.checks_skipped["rate_limited"] == 3
    await moderation.close()


class SlowChecker(Checker):
    """Each check takes ``seconds`` of fake time; records how many run at once."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds
        self.running = self.most = 0

    async def classify(self, frame: Any) -> Verdict:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.clock.sleep_until(self.clock.now() + self.seconds)
            return await super().classify(frame)
        finally:
            self.running -= 1


async def test_one_check_in_flight_per_match(tmp_path: Path) -> None:
    """B's checks come 0.1 s after A's, while A's (0.3 s long) is still running: they wait
    for it and run after it, never alongside, and are never skipped (skipping starved B of
    every check). Another match's checks are not held up."""
    settings = ModerationSettings(
        evidence_dir=tmp_path, schedule_offsets_s=[1, 3, 6], periodic_s=0, partner_stagger_s=0.1
    )
    clock = FakeClock()
    frames, store = Frames(clock), MemoryStore()
    checker = SlowChecker(clock, 0.3)
    moderation = Moderation(settings, frames, Enforcer(store), store, clock=clock, checker=checker)
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert checker.most == 1
    assert moderation.stats.checks_run == 6  # A's three and B's three
    assert moderation.stats.checks_skipped["match_in_flight"] == 0
    moderation.match_ended("m1")
    moderation.match_started("m2", A, B)
    moderation.match_started("m3", Person("v_c", "10.0.0.3"), Person("v_d", "10.0.0.4"))
    await clock.advance(1.2)
    assert checker.most == 2  # m2's and m3's first checks overlap: different matches
    await moderation.close()


class FailingStore(MemoryStore):
    """A store whose every save fails (disk full, database down)."""

    async def save(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("database is down")


async def test_nothing_is_enforced_when_the_evidence_record_cannot_be_saved(
    tmp_path: Path,
) -> None:
    settings = ModerationSettings(
        evidence_dir=tmp_path, schedule_offsets_s=[1, 3], periodic_s=0, partner_stagger_s=0.5
    )
    clock = FakeClock()
    store = FailingStore()
    frames, checker, enforcer = Frames(clock), Checker(), Enforcer(store)
    moderation = Moderation(settings, frames, enforcer, store, clock=clock, checker=checker)
    video = moderation.video
    assert video is not None
    clock.busy = lambda: video.busy
    checker.script[1] = [EXPLICIT]
    checker.script[2] = [EXPLICIT_MINOR]
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(5)
    assert enforcer.bans == [] and enforcer.holds == []  # no record, no ban, no hold
    assert moderation.stats.bans["video"] == 0 and moderation.stats.holds == 0
    # ...and both are still checked (a later save may succeed).
    assert grabs_of(frames, A.visitor, start) == [1, 3]
    assert grabs_of(frames, B.visitor, start) == [1.5, 3.5]
    await moderation.close()
