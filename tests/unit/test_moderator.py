"""The video moderator end to end in one process: fake frames, fake classifier, fake clock,
real policy, real evidence files, memory store."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from moderation import MemoryStore, Moderation, ModerationSettings, Subject, Verdict
from moderation.clock import FakeClock
from moderation.records import BanRecord
from moderation.workers import WorkerDied

SAFE = Verdict(unsafe=False, minor=False, score=0.0, reason="ok", source="fake")
EXPLICIT = Verdict(unsafe=True, minor=False, score=0.95, reason="explicit", source="fake")
BORDERLINE = Verdict(unsafe=True, minor=False, score=0.6, reason="maybe", source="fake")
MINOR = Verdict(unsafe=False, minor=True, score=0.0, reason="young", source="fake", faces=1)

A, B = Subject("v_a", "10.0.0.1"), Subject("v_b", "10.0.0.2")


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
        self.recorded_first: list[bool] = []

    async def enforce(self, ban: BanRecord) -> None:
        self.recorded_first.append(ban in self.store.ban_records)
        self.bans.append(ban)


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
    # The match is stopped: its remaining checks are skipped (B's included).
    await clock.advance(10)
    assert grabs_of(frames, A.visitor, start) == [1]
    assert grabs_of(frames, B.visitor, start) == []
    assert moderation.stats.checks_skipped["match_stopped"] == 2  # B at 1.5, A at 3
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


async def test_possible_minor_is_reviewed_once_and_never_banned(tmp_path: Path) -> None:
    moderation, clock, frames, checker, enforcer = build(tmp_path)
    checker.script[2] = [MINOR]
    start = clock.now()
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert enforcer.bans == []
    (item,) = await moderation.store.reviews()
    assert (item.visitor, item.priority) == (B.visitor, "normal")
    assert grabs_of(frames, B.visitor, start) == [1.5, 3.5, 6.5]  # not unsafe: keep checking
    checker.script[2] = [Verdict(True, True, 0.99, "explicit, young", "fake")]
    moderation.match_started("m2", A, B)
    await clock.advance(3)
    reviews = await moderation.store.reviews()
    assert [r.priority for r in reviews] == ["high", "normal"]  # HIGH first
    assert enforcer.bans == []
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


async def test_one_check_in_flight_per_match(tmp_path: Path) -> None:
    moderation, clock, _, _, _ = build(tmp_path, partner_stagger_s=0)
    moderation.match_started("m1", A, B)
    await clock.advance(10)
    assert moderation.stats.checks_run + moderation.stats.checks_skipped["match_in_flight"] == 6
    await moderation.close()
