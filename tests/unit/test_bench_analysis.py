"""From caller records to figures: partners, frames by kind, media ok, calls."""

from __future__ import annotations

from array import array

import pytest

from benchmarks.analysis import Window, analyze, count_calls
from benchmarks.caller import UNREADABLE, CallerRecord, MatchRecord

FPS = 30


def _record(index: int, joined: float = 0.0) -> CallerRecord:
    return CallerRecord(index=index, visitor=f"v{index}", connected_at=joined, joined_at=joined)


def _frames(record: CallerRecord, mark: int, start: float, end: float, fps: float = FPS) -> None:
    for i in range(round((end - start) * fps)):
        record.frame_times.append(start + i / fps)
        record.frame_marks.append(mark)


def _audio(record: CallerRecord, start: float, end: float) -> None:
    record.audio_times = array("d", [start + i * 0.02 for i in range(int((end - start) / 0.02))])


def _call(a: CallerRecord, b: CallerRecord, match: str, at: float) -> None:
    a.matches.append(MatchRecord(match, at))
    b.matches.append(MatchRecord(match, at))


def test_a_good_call_is_media_ok_both_ways() -> None:
    a, b = _record(0), _record(1, joined=0.05)
    _call(a, b, "m1", 0.1)
    _frames(a, 1, 0.3, 12.0)
    _frames(b, 0, 0.25, 12.0)
    _audio(a, 0.2, 12.0)
    window = Window(2.0, 12.0)
    results, members = analyze([a, b], window, FPS)
    assert members == {"m1": [0, 1]}
    ra, rb = results
    assert ra.time_to_match_ms == pytest.approx(100)
    assert ra.first_frame_ms == pytest.approx(300)
    assert rb.time_to_match_ms == pytest.approx(50)
    assert rb.first_frame_ms == pytest.approx(200)
    assert ra.match_first_frame_ms == [pytest.approx(200)]
    assert ra.watch_s == pytest.approx(10.0)
    assert ra.frames_expected == pytest.approx(300)
    assert ra.frames_received == pytest.approx(300, abs=1)
    assert ra.fps == pytest.approx(30, abs=0.2)
    assert ra.audio_pps == pytest.approx(50, abs=0.2)
    assert ra.right_partner and ra.media_ok and rb.media_ok
    assert ra.problems == []
    assert count_calls([a, b], results, requested=1).__dict__ == {
        "requested": 1,
        "matched": 1,
        "media_ok": 1,
    }


def test_own_picture_and_wrong_partner_are_caught() -> None:
    a, b, c = _record(0), _record(1), _record(2)
    _call(a, b, "m1", 0.1)
    _frames(a, 1, 0.3, 5.0)
    _frames(a, 0, 5.0, 5.5)  # its own picture comes back
    _frames(b, 2, 0.3, 10.0)  # someone else's picture, never its partner's
    results, _ = analyze([a, b, c], Window(1.0, 10.0), FPS)
    ra, rb, rc = results
    assert ra.own_frames == 15
    assert not ra.right_partner and not ra.media_ok
    assert any("own picture" in p for p in ra.problems)
    assert rb.wrong_frames > 250 and rb.partners_missing == 1
    assert not rb.media_ok
    assert not rc.matched and rc.problems == ["never matched"]


def test_lost_frames_fail_the_90_percent_rule() -> None:
    a, b = _record(0), _record(1)
    _call(a, b, "m1", 0.0)
    _frames(a, 1, 0.1, 10.0, fps=25)  # 83 % of 30 fps
    _frames(b, 0, 0.1, 10.0, fps=28)  # 93 %
    _frames(b, UNREADABLE, 10.0, 10.2)
    results, _ = analyze([a, b], Window(1.0, 10.0), FPS)
    ra, rb = results
    assert ra.right_partner and not ra.media_ok
    assert ra.frames_lost == pytest.approx(45, abs=2)
    assert "received 83% of the expected frames" in ra.problems
    assert rb.media_ok
    assert rb.unreadable_frames == 6
    assert count_calls([a, b], results, requested=2).__dict__ == {
        "requested": 2,
        "matched": 1,
        "media_ok": 0,
    }


def test_next_switches_partner_with_frames_in_flight_tolerated() -> None:
    a, b, c, d = _record(0), _record(1), _record(2), _record(3)
    _call(a, b, "m1", 0.0)
    _call(c, d, "m2", 0.0)
    # At 5 s, a presses next, c presses next; a is matched with c, b with d.
    a.matches[0].ended_at, a.matches[0].end = 5.0, "next"
    b.matches[0].ended_at, b.matches[0].end = 5.0, "partner_left"
    c.matches[0].ended_at, c.matches[0].end = 5.01, "next"
    d.matches[0].ended_at, d.matches[0].end = 5.01, "partner_left"
    a.matches.append(MatchRecord("m3", 5.02, after_next=5.0))
    c.matches.append(MatchRecord("m3", 5.02, after_next=5.01))
    b.matches.append(MatchRecord("m4", 5.03))
    d.matches.append(MatchRecord("m4", 5.03))
    _frames(a, 1, 0.1, 5.0)
    for at in (5.005, 5.015):  # b's, sent before the server got a's Next: in flight
        a.frame_times.append(at)
        a.frame_marks.append(1)
    _frames(a, 2, 5.15, 10.0)
    _frames(c, 3, 0.1, 5.0)
    _frames(c, 0, 5.12, 10.0)
    _frames(b, 0, 0.1, 5.0)
    _frames(b, 3, 5.2, 10.0)
    _frames(d, 2, 0.1, 5.0)
    _frames(d, 1, 5.2, 10.0)
    window = Window(1.0, 10.0)
    results, _ = analyze([a, b, c, d], window, FPS)
    ra, rb, rc, _rd = results
    assert ra.in_flight_frames == 2 and ra.stale_frames == 0
    assert ra.wrong_frames == 0
    assert ra.next_to_match_ms == [pytest.approx(20)]
    assert ra.next_first_frame_ms == [pytest.approx(150)]
    assert rc.next_first_frame_ms == [pytest.approx(110)]
    assert rb.next_first_frame_ms == []  # b did not press next
    assert ra.nexts == 1 and rb.nexts == 0
    assert all(r.media_ok for r in results), [r.problems for r in results]
    assert count_calls([a, b, c, d], results, requested=2).media_ok == 2


def test_a_partner_after_partner_left_or_the_next_match_is_stale() -> None:
    a, b, c = _record(0), _record(1), _record(2)
    _call(a, b, "m1", 0.0)
    # b pressed Next at 3.0; a was told (partner_left) and matched with c at 3.1.
    a.matches[0].ended_at, a.matches[0].end = 3.0, "partner_left"
    a.matches.append(MatchRecord("m2", 3.1))
    c.matches.append(MatchRecord("m2", 3.1))
    _frames(a, 1, 0.1, 3.0)
    _frames(a, 1, 3.03, 3.23)  # b after a was told b left, then after a's new match began
    _frames(a, 2, 3.23, 6.0)
    results, _ = analyze([a, b, c], Window(1.0, 6.0), FPS)
    assert results[0].stale_frames == 6 and results[0].in_flight_frames == 0
    assert not results[0].right_partner
    assert any("after the match ended" in p for p in results[0].problems)


def test_a_frame_crossing_the_event_on_the_way_is_in_flight_not_stale() -> None:
    # Sent before the switch, decoded a few ms after the event that announced it: in
    # flight. One frame period later it would be stale (the test above).
    a, b, c = _record(0), _record(1), _record(2)
    _call(a, b, "m1", 0.0)
    a.matches[0].ended_at, a.matches[0].end = 3.0, "partner_left"
    a.matches.append(MatchRecord("m2", 3.1))
    c.matches.append(MatchRecord("m2", 3.1))
    _frames(a, 1, 0.1, 3.0)
    for at in (3.004, 3.103):  # after partner_left, then after the next matched
        a.frame_times.append(at)
        a.frame_marks.append(1)
    _frames(a, 2, 3.2, 6.0)
    results, _ = analyze([a, b, c], Window(1.0, 6.0), FPS)
    assert results[0].stale_frames == 0 and results[0].in_flight_frames == 2
    assert results[0].right_partner


def test_a_stale_partner_after_the_new_one_is_wrong() -> None:
    a, b, c = _record(0), _record(1), _record(2)
    _call(a, b, "m1", 0.0)
    a.matches[0].ended_at, a.matches[0].end = 3.0, "next"
    a.matches.append(MatchRecord("m2", 3.1, after_next=3.0))
    c.matches.append(MatchRecord("m2", 3.1))
    _frames(a, 1, 0.1, 3.0)
    _frames(a, 2, 3.2, 6.0)
    _frames(a, 1, 6.0, 6.5)  # b comes back while a talks to c: the SFU mixed them up
    _frames(a, 2, 6.5, 9.0)
    results, _ = analyze([a, b, c], Window(1.0, 9.0), FPS)
    assert results[0].wrong_frames == 15
    assert not results[0].right_partner


def test_a_partner_outside_the_bench_is_not_verified() -> None:
    a = _record(0)
    a.matches.append(MatchRecord("m-stranger", 0.0))
    _frames(a, 4000, 0.1, 5.0)
    results, _ = analyze([a], Window(1.0, 5.0), FPS)
    assert results[0].unknown_partners == 1
    assert not results[0].media_ok


def test_a_caller_cut_off_early_is_not_ok_and_its_missed_frames_count() -> None:
    a, b = _record(0), _record(1)
    _call(a, b, "m1", 0.0)
    for record in (a, b):
        record.matches[0].ended_at, record.matches[0].end = 5.0, "stopped"
        record.error = "the server closed the WebSocket"
    _frames(a, 1, 0.1, 5.0)
    _frames(b, 0, 0.1, 5.0)
    results, _ = analyze([a, b], Window(1.0, 10.0), FPS)
    for result in results:
        assert result.watch_s == pytest.approx(9.0)
        assert result.frames_lost == pytest.approx(150, abs=2)
        assert not result.media_ok
        assert result.problems[0] == "the server closed the WebSocket"
    assert count_calls([a, b], results, requested=1).media_ok == 0
