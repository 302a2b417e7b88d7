"""Image reports: an immediate check of the reported visitor's live video that bypasses the
schedule but not the global budget; the verdict decides. Verbal report bans carry their
chat as evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation import Subject
from tests.unit.test_moderator import BORDERLINE, EXPLICIT, MINOR, SAFE, build

A = Subject("v_a", "10.0.0.1", session="s_a", device="d_a")


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
    moderation, _, _, checker, enforcer = build(tmp_path)
    checker.script[1] = [EXPLICIT]
    assert await moderation.check_reported(A, "m1") == "ban"
    assert [(b.visitor, b.session, b.device) for b in enforcer.bans] == [("v_a", "s_a", "d_a")]
    checker.script[1] = [BORDERLINE]
    assert await moderation.check_reported(A, "m2") == "review"
    checker.script[1] = [MINOR]
    assert await moderation.check_reported(A, "m3") == "review"
    assert len(enforcer.bans) == 1  # borderline and possible minors are never auto-banned
    assert moderation.stats.review_items["normal"] == 2
    await moderation.close()


async def test_report_checks_respect_the_global_budget(tmp_path: Path) -> None:
    moderation, _, frames, _, _ = build(tmp_path, daily_budget=1)
    assert await moderation.check_reported(A, "m1") == "clean"
    assert await moderation.check_reported(A, "m1") == "unchecked"
    assert moderation.stats.checks_skipped["daily_budget"] == 1
    assert len(frames.grabs) == 1
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
    moderation, _, frames, _, _ = build(tmp_path, breaker_failures=3)
    assert moderation.video is not None
    frames.failing["v_a"] = error
    for match in ("m1", "m2", "m3", "m4"):
        assert await moderation.check_reported(A, match) == "unchecked"
    assert moderation.video.breaker.state == "closed"
    assert moderation.stats.checks_skipped["no_frame"] == 4
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
    await moderation.close()
