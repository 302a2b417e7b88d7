"""The room in one process: interests, media, typing floods, chat limits, reports, blocks."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.room.visitor import CLOSE_POLICY, Visitor
from tests.support.room import Room, events, kinds, make_room, settle


async def pair(room: Room, **join: Any) -> tuple[Visitor, Visitor]:
    a, b = room.connect("10.0.0.1"), room.connect("10.0.0.2")
    await room.send(a, {"type": "join", "mode": "text", **join})
    await room.send(b, {"type": "join", "mode": "text", **join})
    assert a.match is not None and a.match is b.match
    events(a), events(b)
    return a, b


async def test_shared_interests_and_the_partner_name_come_with_matched() -> None:
    room = make_room()
    a = room.lobby.connect("10.0.0.1", session="s_a", name="Ada")
    b = room.lobby.connect("10.0.0.2", session="s_b")
    await room.send(a, {"type": "join", "mode": "text", "interests": ["Music", " Sci-Fi "]})
    await room.send(
        b, {"type": "join", "mode": "text", "interests": ["sci-fi", "cats"], "language": "en-GB"}
    )
    matched_a = next(e for e in events(a) if e["type"] == "matched")
    matched_b = next(e for e in events(b) if e["type"] == "matched")
    assert matched_a["interests"] == matched_b["interests"] == ["sci-fi"]
    assert matched_b["partner_name"] == "Ada" and matched_a["partner_name"] is None
    assert b.language == "en"


async def test_interests_prefer_a_match_then_fall_back_after_the_wait() -> None:
    room = make_room(matching={"preference_wait_s": 5.0})
    a, b, c = (room.connect(f"10.0.0.{i}") for i in (1, 2, 3))
    await room.send(a, {"type": "join", "mode": "text", "interests": ["chess"]})
    await room.send(b, {"type": "join", "mode": "text", "interests": ["golf"]})
    assert a.match is None and b.match is None  # each holds out for its interest
    await room.send(c, {"type": "join", "mode": "text", "interests": ["golf", "go"]})
    assert c.match is not None and c.match.partner_of(c) is b
    room.clock.advance(6)
    d = room.connect("10.0.0.4")
    await room.send(d, {"type": "join", "mode": "text"})
    assert d.match is not None and d.match.partner_of(d) is a  # a waited long enough
    assert [e["interests"] for e in events(d) if e["type"] == "matched"] == [[]]


@pytest.mark.parametrize(
    "bad",
    [["a" * 25], [""], ["<script>"], ["x"] * 6, ["dup", "DUP", "a", "b", "c", "d", "e"]],
)
async def test_bad_interests_are_refused(bad: list[str]) -> None:
    room = make_room()
    a = room.connect()
    await room.send(a, {"type": "join", "mode": "text", "interests": bad})
    assert [e["code"] for e in events(a) if e["type"] == "error"] == ["invalid_message"]
    assert a.state == "idle"


async def test_media_toggles_reach_the_partner_only_when_they_change() -> None:
    room = make_room()
    a, b = await pair(room)
    await room.send(a, {"type": "media", "audio": False, "video": True})
    await room.send(a, {"type": "media", "audio": False, "video": True})
    assert [e for e in events(b) if e["type"] == "media"] == [
        {"type": "media", "audio": False, "video": True}
    ]


async def test_a_typing_flood_is_dropped_and_never_disconnects_the_partner() -> None:
    room = make_room()
    a, b = await pair(room)
    for i in range(2_000):
        await room.send(a, {"type": "typing", "on": i % 2 == 0})
    relayed = [e for e in events(b) if e["type"] == "typing"]
    assert 0 < len(relayed) <= 20  # the typing limit: 20 per 10 s
    assert b.alive and a.alive
    assert events(a) == []  # dropped quietly, no error storm either


async def test_repeated_typing_states_are_not_relayed() -> None:
    room = make_room()
    a, b = await pair(room)
    for _ in range(5):
        await room.send(a, {"type": "typing", "on": True})
    assert kinds(b) == ["typing"]


async def test_chat_over_the_limit_times_out_with_a_doubling_backoff_then_disconnects() -> None:
    room = make_room(limits={"chat_violations_to_disconnect": 4})
    a, b = await pair(room)
    for i in range(5):
        await room.send(a, {"type": "chat", "text": f"hi {i}"})
    assert kinds(b) == ["chat"] * 5
    await room.send(a, {"type": "chat", "text": "one too many"})
    error = events(a)[-1]
    assert error["code"] == "rate_limited" and error["retry_after"] == 10.0
    room.clock.advance(5)  # still in the timeout: refused, and it counts
    await room.send(a, {"type": "chat", "text": "still?"})
    assert events(a)[-1]["code"] == "rate_limited"
    room.clock.advance(6)  # the timeout is over, but the window is still full: it trips
    await room.send(a, {"type": "chat", "text": "now?"})  # again, for twice as long
    error = events(a)[-1]
    assert error["code"] == "rate_limited" and error["retry_after"] == 20.0
    assert kinds(b) == []
    await room.send(a, {"type": "chat", "text": "and again"})  # 4th violation
    assert events(a)[-1]["code"] == "rate_limited"
    assert not a.alive and a.close_code == CLOSE_POLICY
    # The partner is unharmed: told the match ended and re-queued.
    assert b.alive and "partner_left" in kinds(b)


async def test_chat_lines_are_kept_for_reports_bounded() -> None:
    room = make_room(reports={"attached_messages": 3}, limits={"chat": "100 per second"})
    a, b = await pair(room)
    for i in range(10):
        await room.send(a if i % 2 else b, {"type": "chat", "text": f"m{i}"})
    assert a.match is not None
    assert [line.text for line in a.match.lines] == ["m7", "m8", "m9"]


async def test_a_verbal_report_attaches_the_last_messages_and_is_acknowledged() -> None:
    room = make_room()
    a, b = await pair(room)
    await room.send(b, {"type": "chat", "text": "you are awful"})
    await room.send(a, {"type": "chat", "text": "bye"})
    await room.send(a, {"type": "report", "reason": "harassment", "comment": " <b>rude</b> "})
    assert kinds(a)[-1] == "reported"
    (stored,) = room.sink.reports.values()
    filing = stored.filing
    assert filing.reported_visitor == b.id and filing.reporter_visitor == a.id
    assert list(filing.transcript) == [("reported", "you are awful"), ("reporter", "bye")]
    assert filing.comment == "<b>rude</b>"
    assert filing.reported_session == b.session
    assert room.moderation.bans == []  # one reporter never bans
    assert b.alive and a.match is b.match  # a report ends nothing by itself


async def test_report_cooldown_and_nobody_to_report() -> None:
    room = make_room()
    lonely = room.connect()
    await room.send(lonely, {"type": "report", "reason": "spam"})
    assert events(lonely)[-1]["code"] == "not_in_match"
    a, _ = await pair(room)
    await room.send(a, {"type": "report", "reason": "spam"})
    await room.send(a, {"type": "report", "reason": "spam"})
    assert events(a)[-1]["code"] == "too_soon"
    assert len(room.sink.reports) == 1


async def test_the_last_partner_can_be_reported_shortly_after_next() -> None:
    room = make_room(reports={"report_after_s": 60})
    a, _b = await pair(room)
    await room.send(a, {"type": "next"})
    room.clock.advance(30)
    await room.send(a, {"type": "report", "reason": "hate"})
    assert kinds(a)[-1] == "reported"
    room.clock.advance(60)
    a.reported_at = float("-inf")
    await room.send(a, {"type": "report", "reason": "hate"})
    assert events(a)[-1]["code"] == "not_in_match"


async def test_verbal_reports_ban_only_at_the_threshold_of_distinct_reporters() -> None:
    room = make_room(reports={"verbal_threshold": 3, "cooldown_s": 0})
    target = room.lobby.connect("10.9.9.9", session="s_target", device="d_target")

    async def report_from(ip: str, session: str, device: str, talk_s: float = 6) -> None:
        reporter = room.lobby.connect(ip, session=session, device=device)
        await room.send(reporter, {"type": "join", "mode": "text"})
        await room.send(target, {"type": "join", "mode": "text"})
        assert reporter.match is not None and reporter.match.partner_of(reporter) is target
        room.clock.advance(talk_s)
        await room.send(reporter, {"type": "report", "reason": "harassment"})
        await room.send(reporter, {"type": "leave"})
        await room.send(target, {"type": "leave"})
        room.clock.advance(11)  # the rematch cooldown

    await report_from("10.0.0.1", "s_1", "d_1")
    # The same person again, from a new session and device but the same IP: one reporter.
    await report_from("10.0.0.1", "s_2", "d_2")
    # A new IP but the same device: still the same reporter.
    await report_from("10.0.0.3", "s_3", "d_1")
    assert room.moderation.bans == []
    await report_from("2001:db8:1:2::1", "s_4", "d_4")
    # A fresh session and device in the same IPv6 /64: the same network, one reporter.
    await report_from("2001:db8:1:2:ffff::9", "s_6", "d_6")
    # Someone matched for a moment only (a drive-by report): stored, but no weight.
    await report_from("10.0.0.7", "s_7", "d_7", talk_s=1)
    assert room.moderation.bans == []
    assert room.desk.outcomes["harassment:too_brief"] == 1
    await report_from("10.0.0.5", "s_5", "d_5")
    assert [s.session for s, _ in room.moderation.bans] == ["s_target"]
    assert "3 people" in room.moderation.bans[0][1]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("ban", "actioned"), ("review", "open"), ("clean", "dismissed"), ("unchecked", "open")],
)
async def test_an_image_report_checks_the_reported_video_and_the_verdict_decides(
    outcome: str, status: str
) -> None:
    room = make_room()
    room.moderation.outcome = outcome
    a, b = await pair(room)
    await room.send(a, {"type": "report", "reason": "nudity"})
    await settle()
    assert [(s.visitor, m) for s, m in room.moderation.checks] == [(b.id, a.match.id)]  # type: ignore[union-attr]
    (stored,) = room.sink.reports.values()
    assert stored.status == status
    assert room.desk.outcomes == {f"nudity:{outcome}": 1}


async def test_a_block_ends_the_match_and_the_pair_never_meets_again() -> None:
    room = make_room(matching={"rematch_cooldown_s": 0})
    a = room.lobby.connect("10.0.0.1", session="s_a", device="d_a")
    b = room.lobby.connect("10.0.0.2", session="s_b", device="d_b")
    await room.send(a, {"type": "join", "mode": "text"})
    await room.send(b, {"type": "join", "mode": "text"})
    await room.send(a, {"type": "block"})
    assert "blocked" in kinds(a) and "partner_left" in kinds(b)
    assert a.match is None and b.match is None and a.state == b.state == "waiting"
    # b comes back with a new session and device from the same IP: still blocked.
    await room.send(b, {"type": "leave"})
    b2 = room.lobby.connect("10.0.0.2", session="s_b2", device="d_b2")
    await room.send(b2, {"type": "join", "mode": "text"})
    assert b2.match is None
    # After the IP part expires (1 h), a new session and device from that IP may meet a.
    room.clock.advance(3_601)
    c = room.lobby.connect("10.0.0.2", session="s_c", device="d_c")
    await room.send(b2, {"type": "leave"})
    await room.send(c, {"type": "join", "mode": "text"})
    assert c.match is not None and c.match.partner_of(c) is a
    # The blocked device itself stays blocked for a week.
    await room.send(c, {"type": "leave"})
    b3 = room.lobby.connect("10.0.0.7", session="s_b3", device="d_b")
    await room.send(b3, {"type": "join", "mode": "text"})
    assert b3.match is None


async def test_join_and_next_limits_mark_a_suspect() -> None:
    room = make_room(limits={"nexts": "2 per minute"}, matching={"rematch_cooldown_s": 0})
    suspects: list[tuple[str, str | None]] = []
    assert room.lobby.pace is not None
    room.lobby.pace.suspect = lambda ip, device: suspects.append((ip, device))
    a, _b = await pair(room)
    for _ in range(3):
        await room.send(a, {"type": "next"})
    assert events(a)[-1]["code"] == "rate_limited"
    assert suspects == [("10.0.0.1", None)]


async def test_ping_gets_pong() -> None:
    room = make_room()
    a = room.connect()
    await room.send(a, {"type": "ping"})
    assert kinds(a) == ["welcome", "pong"]


async def test_a_ban_removes_every_tab_of_the_session_or_device() -> None:
    from datetime import UTC, datetime, timedelta

    from moderation.records import BanRecord
    from signaling.door.appeals import AppealTokens
    from signaling.protocol import AppealInfo, BannedEvent
    from signaling.room.enforcement import LobbyEnforcer

    class Events:
        async def banned_event(self, ban: BanRecord, new: bool = False) -> BannedEvent:
            token = AppealTokens(b"test").issue(ban.id)
            appeal = AppealInfo(token=token, status="none", max_length=1000)
            return BannedEvent(
                reason=ban.reason, until=ban.until.isoformat(), ban=ban.id, appeal=appeal
            )

    room = make_room()
    tab1 = room.lobby.connect("10.0.0.1", session="s_x", device="d_x")
    tab2 = room.lobby.connect("10.0.0.1", session="s_x", device="d_x")
    other_device_tab = room.lobby.connect("10.0.0.9", session="s_y", device="d_x")
    neighbour = room.lobby.connect("10.0.0.1", session="s_z", device="d_z")
    now = datetime.now(UTC)
    ban = BanRecord(
        "b_1", tab1.id, "10.0.0.1", "s_x", "d_x", "test", "video", now, now + timedelta(1), None
    )
    await LobbyEnforcer(room.lobby, Events()).enforce(ban)
    assert not tab1.alive and not tab2.alive and not other_device_tab.alive
    assert neighbour.alive  # same NAT, another person: not removed now


async def test_the_chat_limit_holds_for_the_text_as_relayed() -> None:
    # U+FDFA is one character that NFKC turns into 18: the limit is checked after it.
    room = make_room()
    a, b = await pair(room)
    limit = room.lobby.settings.chat.max_length
    await room.send(a, {"type": "chat", "text": "\ufdfa" * (limit // 10)})
    assert [e.get("code") for e in events(a)] == ["too_long"]
    assert events(b) == []
    # What is relayed is the sanitised text: no bidi overrides or zero-width characters.
    await room.send(a, {"type": "chat", "text": "\u202ehi\u200b\u2066 \ufdfa"})
    [relayed] = events(b)
    assert relayed["text"] == "hi " + __import__("unicodedata").normalize("NFKC", "\ufdfa")
    assert len(relayed["text"]) <= limit


async def test_image_reports_check_only_visitors_with_live_video() -> None:
    """No live video, no model call and no budget spent: the report waits for reviewers."""
    room = make_room(reports={"cooldown_s": 0})
    room.desk.live_video = room.lobby.sends_video
    a, b = await pair(room)  # a text match: nobody sends video
    assert not room.lobby.sends_video(b.id)
    await room.send(a, {"type": "report", "reason": "nudity"})
    await settle()
    assert room.moderation.checks == []
    (stored,) = room.sink.reports.values()
    assert stored.status == "open" and room.desk.outcomes == {"nudity:unchecked": 1}
    room.desk.live_video = lambda visitor: visitor == b.id
    await room.send(a, {"type": "report", "reason": "minor"})
    await settle()
    assert [s.visitor for s, _ in room.moderation.checks] == [b.id]
