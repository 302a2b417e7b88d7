"""Image reports: an immediate check of the reported visitor's live video that bypasses the
schedule and draws on its own budget (never the scheduled checks'); the verdict decides.
Verbal report bans carry their chat as evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from duet.person import Person
from tests.unit.test_moderator import BORDERLINE, EXPLICIT, MINOR, SAFE, build

A = Person("v_a", "10.0.0.1", session="s_a", device="d_a")


async def test_a_clean_frame_drops_the_report_without_waiting_for_the_schedule(
    tmp_path: Path,
) -> None:
    moderation, _, frames, checker, _ = build(tmp_path)
    checker.script[1] = [SAFE]
    assert await moderation.check_reported(A, "m1") == "clean"
    assert [who for _, who in frames.grabs] == ["v_a"]  # now, not at the schedule's 1 s
    assert moderation.stats.report_checks == 1
    await moderation.close()


async def test_explicit_is_enforced_and_borderline_or_minor_go_to_review(tmp_path: Path) -> None:
    moderation, _, _, checker, enforcer = build(tmp_path, report_checks_per_s=100)
    checker.script[1] = [EXPLICIT]
    assert await moderation.check_reported(A, "m1") == "ban"
    assert [(b.visitor, b.session, b.device) for b in enforcer.bans] == [("v_a", "s_a", "d_a")]
    checker.script[1] = [BORDERLINE]
    assert await moderation.check_reported(A, "m2") == "review"
    checker.script[1] = [MINOR]
    assert await moderation.check_reported(A, "m3") == "review"
    assert len(enforcer.bans) == 1  # borderline and possible minors are never auto-banned
    assert moderation.stats.review_items == {"normal": 1, "high": 1}
    await moderation.close()


async def test_report_checks_have_their_own_budget(tmp_path: Path) -> None:
    moderation, _, frames, _, _ = build(tmp_path, report_daily_budget=1, daily_budget=1)
    assert await moderation.check_reported(A, "m1", "s_r1") == "clean"
    assert await moderation.check_reported(A, "m1", "s_r2") == "unchecked"
    assert moderation.stats.checks_skipped["report_budget"] == 1
    assert len(frames.grabs) == 1
    assert moderation.video is not None
    assert moderation.video.backstops.budget.used == 0  # the scheduled budget is untouched
    await moderation.close()


async def test_reports_can_never_starve_the_scheduled_checks(tmp_path: Path) -> None:
    """A flood of image reports (many reporters, many targets) at the same instant as the
    scheduled checks: every scheduled check still runs."""
    moderation, clock, frames, _, _ = build(tmp_path, max_checks_per_s=2, daily_budget=6)
    start = clock.now()
    moderation.match_started("m1", Person("v_x", "10.0.0.8"), Person("v_y", "10.0.0.9"))
    for n in range(40):
        target = Person(f"v_t{n % 10}", "10.0.1.1", session=f"s_t{n % 10}")
        await moderation.check_reported(target, f"m_{n}", f"s_r{n}")
    await clock.advance(10)
    assert moderation.stats.checks_skipped["rate_limited"] == 0
    assert moderation.stats.checks_skipped["daily_budget"] == 0
    assert [round(at - start, 2) for at, who in frames.grabs if who == "v_x"] == [1, 3, 6]
    assert [round(at - start, 2) for at, who in frames.grabs if who == "v_y"] == [1.5, 3.5, 6.5]
    await moderation.close()


async def test_report_checks_are_capped_per_reporter_and_per_reported_visitor(
    tmp_path: Path,
) -> None:
    moderation, clock, frames, _, _ = build(
        tmp_path,
        report_checks_per_reporter=2,
        report_checks_per_target=3,
        report_checks_per_s=100,
    )
    b = Person("v_b", "10.0.0.2", session="s_b")
    c = Person("v_c", "10.0.0.3", session="s_c")
    d = Person("v_d", "10.0.0.4", session="s_d")
    # One reporter: two checks, then its reports reach reviewers unchecked.
    assert await moderation.check_reported(b, "m1", "s_r") == "clean"
    assert await moderation.check_reported(c, "m2", "s_r") == "clean"
    assert await moderation.check_reported(d, "m3", "s_r") == "unchecked"
    assert moderation.stats.checks_skipped["reporter_cap"] == 1
    # One reported person (by session, whatever the visitor id): three checks at most.
    for n in range(2):
        again = Person(f"v_b{n}", "10.0.0.2", session="s_b")
        assert await moderation.check_reported(again, "m4", f"s_other{n}") == "clean"
    assert await moderation.check_reported(b, "m4", "s_another") == "unchecked"
    assert moderation.stats.checks_skipped["target_cap"] == 1
    assert len(frames.grabs) == 4
    # The caps are per window: later, checks run again.
    await clock.advance(moderation.settings.report_check_window_s + 1)
    assert await moderation.check_reported(b, "m5", "s_r") == "clean"
    await moderation.close()


async def test_each_visitor_has_its_own_check_rate(tmp_path: Path) -> None:
    """Scheduled and report-asked checks of one visitor share its per-minute bucket."""
    moderation, clock, frames, _, _ = build(
        tmp_path, visitor_checks_per_min=3, schedule_offsets_s=[1, 2, 3, 4], periodic_s=0
    )
    x, y = Person("v_x", "10.0.0.8"), Person("v_y", "10.0.0.9")
    assert await moderation.check_reported(x, "m0", "s_r1") == "clean"
    start = clock.now()
    moderation.match_started("m1", x, y)
    await clock.advance(5)
    assert [round(at - start, 2) for at, who in frames.grabs if who == "v_x"] == [0, 1, 2]
    assert len([1 for at, who in frames.grabs if who == "v_y"]) == 3
    assert moderation.stats.checks_skipped["visitor_rate"] == 2 + 1  # x at 3, 4; y at 4.5
    await moderation.close()


async def test_no_frame_leaves_the_report_unchecked(tmp_path: Path) -> None:
    moderation, _, frames, _, _ = build(tmp_path)
    frames.missing.add("v_a")
    assert await moderation.check_reported(A, "m1") == "unchecked"
    await moderation.close()


@pytest.mark.parametrize("error", [TimeoutError(), ConnectionError("sfu worker gone")])
async def test_a_report_check_without_a_frame_is_skipped_never_a_breaker_failure(
    tmp_path: Path, error: Exception
) -> None:
    # The SFU's tap timing out (its RPC waits tap_timeout_s + 5 s) or failing means there
    # was no frame to judge: three of them must not turn video moderation off for everyone.
    # (The report caps are lifted: four reports of one visitor all reach the tap.)
    moderation, _, frames, _, _ = build(
        tmp_path,
        breaker_failures=3,
        report_checks_per_s=100,
        report_checks_per_target=10,
        report_checks_per_reporter=10,
    )
    assert moderation.video is not None
    frames.failing["v_a"] = error
    for match in ("m1", "m2", "m3", "m4"):
        assert await moderation.check_reported(A, match) == "unchecked"
    assert moderation.video.breaker.state == "closed"
    assert moderation.stats.checks_skipped["no_frame"] == 4, moderation.stats.checks_skipped
    assert not moderation.stats.checks_failed
    del frames.failing["v_a"]
    assert await moderation.check_reported(A, "m5") == "clean"
    await moderation.close()


async def test_a_ban_for_verbal_reports_keeps_the_chat_as_evidence(tmp_path: Path) -> None:
    moderation, _, _, _, enforcer = build(tmp_path)
    await moderation.ban_for_reports(A, "m1", ["you are awful"], "reported by 3 people", 60.0)
    (ban,) = enforcer.bans
    assert ban.source == "report" and ban.device == "d_a"
    evidence = await moderation.store.evidence(ban.evidence_id or "")
    assert evidence is not None and evidence.kind == "text"
    assert "you are awful" in (tmp_path / evidence.path).read_text()
    # ...and a reviewer is asked to confirm or lift it.
    (item,) = await moderation.store.reviews()
    assert item.ban_id == ban.id and item.evidence_id == evidence.id
    await moderation.close()
