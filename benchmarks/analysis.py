"""From raw caller records to per-caller figures (pure: no I/O, no clock).

Definitions (docs/benchmarks.md repeats them for readers of the JSON):

- a caller's *partner* in a match is the other bench caller that reported the same match id;
- a frame is the partner's when its mark is the partner's index. Frames with the caller's own
  mark are ``own``. Around a switch, media and the WebSocket events race: frames of the next
  partner just before its ``matched`` arrived, and frames of the partner after this caller
  sent ``next`` but before the server answered it (its next ``matched``), are ``in_flight``
  (that partner's, sent while it was the partner: no fault). Frames of a partner after the
  server said the match was over (``partner_left``, or the next ``matched``), before the new
  partner's first frame, are ``stale``: the server must never send them, and a caller with
  any is not the right partner; any other readable mark is ``wrong``; frames without a
  valid mark are ``unreadable``;
- *watching time* is, per match, from the partner's first frame (or from the match start if
  none came) to the match's end, within the steady window; ``expected`` frames are the clip's
  frame rate times the watching time, ``received`` the partner's frames in it, and ``fps``
  their ratio per second;
- *right partner*: no own and no wrong frames, and the partner's picture seen in every match
  that lasted at least :data:`MIN_MATCH_S`;
- *media ok*: matched, right partner, ``received >= 0.9 * expected`` (with some watching
  time), and no error (a caller whose socket the server closed is not ok);
- a match still going when the caller hung up counts as watched until the window's end, so
  a caller cut off early shows the frames it missed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.caller import UNREADABLE, CallerRecord, MatchRecord
from benchmarks.lipsync import lip_sync

MIN_MATCH_S = 1.0
"""A match shorter than this may end before its first frame; it does not need one."""
EARLY_S = 0.5
"""Frames of the next partner this long before its ``matched`` event, or of the partner
this long after this caller's ``next``, count as in flight (not stale)."""
DELIVERY_OK = 0.9
CROSSING_S = 0.02
"""A frame of the previous partner decoded this soon after the event that ended the match
(``partner_left`` or the next ``matched``) was sent before the switch and crossed the event
(the server sends it once the switch is done; on loopback both arrive within milliseconds):
in flight, not stale. Less than a frame period, so at most one frame."""


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class CallerResult:
    index: int
    visitor: str | None
    connected: bool
    matched: bool
    error: str | None
    time_to_match_ms: float | None = None
    """``join`` sent -> first ``matched``."""
    first_frame_ms: float | None = None
    """``join`` sent -> first frame of the first partner."""
    match_first_frame_ms: list[float] = field(default_factory=list)
    """``matched`` -> first frame of that partner, per match."""
    next_to_match_ms: list[float] = field(default_factory=list)
    """This caller's ``next`` -> its next ``matched``."""
    next_first_frame_ms: list[float] = field(default_factory=list)
    """This caller's ``next`` -> first frame of the new partner."""
    matches: int = 0
    nexts: int = 0
    watch_s: float = 0.0
    frames_expected: float = 0.0
    frames_received: int = 0
    fps: float | None = None
    own_frames: int = 0
    wrong_frames: int = 0
    stale_frames: int = 0
    in_flight_frames: int = 0
    unreadable_frames: int = 0
    partners_missing: int = 0
    """Matches (of at least MIN_MATCH_S) in which the partner's picture never came."""
    unknown_partners: int = 0
    """Matches whose partner is not a bench caller (or did not report the match)."""
    audio_packets: int = 0
    """Audio packets received during the steady window."""
    audio_pps: float | None = None
    av_offset_ms: list[float] = field(default_factory=list)
    """Per lip-sync mark: audio minus video on the senders' clock (:mod:`benchmarks.lipsync`)."""
    av_arrival_offset_ms: list[float] = field(default_factory=list)
    av_unpaired: int = 0
    """Video marks in the window without an audio mark or a Sender Report to place them."""
    right_partner: bool = False
    media_ok: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def frames_lost(self) -> int:
        """Expected frames that did not arrive (never negative)."""
        return max(0, round(self.frames_expected) - self.frames_received)


def partners(records: Sequence[CallerRecord]) -> dict[str, list[int]]:
    """Caller indices per match id."""
    members: dict[str, list[int]] = defaultdict(list)
    for record in records:
        for match in record.matches:
            members[match.match].append(record.index)
    return dict(members)


def partner_in(match: str, index: int, members: dict[str, list[int]]) -> int | None:
    """The other caller of ``match``, or ``None`` if it is not exactly one bench caller."""
    others = [i for i in members.get(match, []) if i != index]
    return others[0] if len(others) == 1 else None


def analyze_caller(
    record: CallerRecord, members: dict[str, list[int]], window: Window, fps: float
) -> CallerResult:
    """Figures of one caller (see the module docstring for the definitions)."""
    result = CallerResult(
        index=record.index,
        visitor=record.visitor,
        connected=record.connected_at is not None,
        matched=bool(record.matches),
        error=record.error,
    )
    matches = sorted(record.matches, key=lambda m: m.matched_at)
    mates = [partner_in(m.match, record.index, members) for m in matches]
    result.matches = len(matches)
    result.nexts = sum(1 for m in matches if m.end == "next")
    result.unknown_partners = sum(1 for p in mates if p is None)
    first_frames = _classify_frames(record, matches, mates, window, result)
    for match, first in zip(matches, first_frames, strict=True):
        if first is not None:
            result.match_first_frame_ms.append((first - match.matched_at) * 1000)
        if match.after_next is not None:
            result.next_to_match_ms.append((match.matched_at - match.after_next) * 1000)
            if first is not None:
                result.next_first_frame_ms.append((first - match.after_next) * 1000)
        lasted = (match.ended_at if match.ended_at is not None else window.end) - match.matched_at
        if first is None and lasted >= MIN_MATCH_S:
            result.partners_missing += 1
    if matches and record.joined_at is not None:
        result.time_to_match_ms = (matches[0].matched_at - record.joined_at) * 1000
        if first_frames[0] is not None:
            result.first_frame_ms = (first_frames[0] - record.joined_at) * 1000
    result.frames_expected = fps * result.watch_s
    if result.watch_s > 0:
        result.fps = result.frames_received / result.watch_s
    lo = bisect.bisect_left(record.audio_times, window.start)
    hi = bisect.bisect_right(record.audio_times, window.end)
    result.audio_packets = hi - lo
    if window.seconds > 0:
        result.audio_pps = result.audio_packets / window.seconds
    sync = lip_sync(record.sync, [m.matched_at for m in matches], window.start, window.end)
    result.av_offset_ms = sync.offsets_ms
    result.av_arrival_offset_ms = sync.arrival_offsets_ms
    result.av_unpaired = sync.unpaired
    result.right_partner = (
        result.matched
        and result.own_frames == 0
        and result.wrong_frames == 0
        and result.stale_frames == 0
        and result.partners_missing == 0
        and result.unknown_partners == 0
    )
    delivered = result.frames_expected > 0 and (
        result.frames_received >= DELIVERY_OK * result.frames_expected
    )
    # A caller cut off by an error (its socket closed, its offer failed) is not ok, even if
    # what it received before was fine.
    result.media_ok = result.right_partner and delivered and record.error is None
    result.problems = _problems(result, delivered)
    return result


def _classify_frames(
    record: CallerRecord,
    matches: list[MatchRecord],
    mates: list[int | None],
    window: Window,
    result: CallerResult,
) -> list[float | None]:
    """Count the caller's frames by kind and its watching time; return, per match, the time
    of the partner's first frame (or ``None``)."""
    first: list[float | None] = [None] * len(matches)
    starts = [m.matched_at for m in matches]
    for at, mark in zip(record.frame_times, record.frame_marks, strict=True):
        if mark == record.index:
            result.own_frames += 1
            continue
        if mark == UNREADABLE:
            result.unreadable_frames += 1
            continue
        current = bisect.bisect_right(starts, at) - 1  # the last match started by ``at``
        following = current + 1
        if (
            following < len(matches)
            and mark == mates[following]
            and starts[following] - at <= EARLY_S
        ):
            result.in_flight_frames += 1  # the next partner, just before ``matched`` came
            continue
        if current < 0:
            result.wrong_frames += 1  # nobody's frame should come before the first match
            continue
        match = matches[current]
        ended = match.ended_at is not None and at >= match.ended_at
        previous = mates[current - 1] if current > 0 else None
        if not ended and mark == mates[current]:
            if first[current] is None:
                first[current] = at
            if window.start <= at <= window.end:
                result.frames_received += 1
        elif ended and mark == mates[current] and at - (match.ended_at or at) <= CROSSING_S:
            result.in_flight_frames += 1  # crossed the event that ended the match
        elif ended and mark == mates[current] and match.end == "partner_left":
            result.stale_frames += 1  # after the server said the partner left
        elif ended and mark == mates[current] and at - (match.ended_at or at) <= EARLY_S:
            # Sent before the server acted on this caller's Next (or it hung up).
            result.in_flight_frames += 1
        elif ended and mark == mates[current]:
            result.stale_frames += 1  # long after this caller's Next: the server ignored it
        elif not ended and first[current] is None and mark == previous:
            if at - match.matched_at <= CROSSING_S:
                result.in_flight_frames += 1  # crossed this match's ``matched`` event
            else:
                result.stale_frames += 1  # the previous partner, before the new one's first
        else:
            result.wrong_frames += 1
    for match, start in zip(matches, first, strict=True):
        begin = start if start is not None else match.matched_at
        # A caller that hung up early (an error) was still due its partner's picture.
        end = window.end
        if match.ended_at is not None and match.end != "stopped":
            end = match.ended_at
        result.watch_s += max(0.0, min(end, window.end) - max(begin, window.start))
    return first


def _problems(result: CallerResult, delivered: bool) -> list[str]:
    problems = []
    if result.error:
        problems.append(result.error)
    elif not result.matched:
        problems.append("never matched")
    if result.own_frames:
        problems.append(f"saw its own picture in {result.own_frames} frames")
    if result.wrong_frames:
        problems.append(f"{result.wrong_frames} frames from someone not its partner")
    if result.stale_frames:
        problems.append(f"{result.stale_frames} frames of a partner after the match ended")
    if result.partners_missing:
        problems.append(f"no picture from the partner in {result.partners_missing} match(es)")
    if result.unknown_partners:
        problems.append(f"{result.unknown_partners} match(es) with a partner outside the bench")
    if result.matched and not delivered:
        share = result.frames_received / result.frames_expected if result.frames_expected else 0
        problems.append(f"received {share:.0%} of the expected frames")
    return problems


def analyze(
    records: Sequence[CallerRecord], window: Window, fps: float
) -> tuple[list[CallerResult], dict[str, list[int]]]:
    """Figures of every caller, and the bench callers of every match id."""
    members = partners(records)
    results = [analyze_caller(r, members, window, fps) for r in records]
    return sorted(results, key=lambda r: r.index), members


@dataclass(frozen=True)
class CallCounts:
    requested: int
    matched: int
    """Initial pairs: matches that were the first match of both their callers."""
    media_ok: int
    """Initial pairs whose both callers are media ok (over all their matches)."""


def count_calls(
    records: Sequence[CallerRecord], results: Sequence[CallerResult], requested: int
) -> CallCounts:
    ok = {r.index: r.media_ok for r in results}
    firsts: dict[str, list[int]] = defaultdict(list)
    for record in records:
        if record.matches:
            first = min(record.matches, key=lambda m: m.matched_at)
            firsts[first.match].append(record.index)
    pairs = [members for members in firsts.values() if len(members) == 2]
    return CallCounts(
        requested=requested,
        matched=len(pairs),
        media_ok=sum(1 for a, b in pairs if ok.get(a) and ok.get(b)),
    )
