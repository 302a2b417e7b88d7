"""Boundaries parsed with pydantic: the ALTCHA payload (``door.challenge.AltchaPayload``) and
the session request (``door.request.SessionRequest``), node bus messages (``routing.messages``).
Bad input still gets the door's coded errors (``challenge_invalid``, ``bad_request``, ``refused``)
with a clear reason, the first in a fixed order."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from signaling.config.door import ChallengeSettings
from signaling.door.challenge import ChallengeFailed, Challenges, solve
from signaling.door.request import SessionRequest, SessionRules
from signaling.door.sessions import SessionRefused
from signaling.room.remote import RemoteVisitor, describe
from signaling.routing.messages import (
    Ended,
    Offer,
    Relayed,
    Reply,
    Report,
    Requeue,
    Rewire,
    VideoOpen,
    parse,
)

EASY = ChallengeSettings(max_number=500, suspect_max_number=1_000, expires_s=60)


def _payload(challenges: Challenges) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(solve(challenges.issue(hard=False))))
    return decoded


def _refusal(challenges: Challenges, payload: object) -> str:
    with pytest.raises(ChallengeFailed) as refused:
        challenges.verify(payload, need_hard=False)
    assert refused.value.code == "challenge_invalid"
    return refused.value.message


def test_a_solved_payload_is_accepted_as_an_object_or_base64_with_extra_fields() -> None:
    challenges = Challenges(EASY, "secret")
    assert challenges.verify({**_payload(challenges), "took": 12}, need_hard=False).hard is False
    encoded = base64.b64encode(json.dumps(_payload(challenges)).encode()).decode()
    assert challenges.verify(encoded, need_hard=False).hard is False


@pytest.mark.parametrize("number", ["7", True, 7.0, None])
def test_the_number_must_be_a_json_integer(number: object) -> None:
    challenges = Challenges(EASY, "secret")
    payload = {**_payload(challenges), "number": number}
    assert _refusal(challenges, payload) == "the solution's number is missing"


@pytest.mark.parametrize("field", ["challenge", "salt", "signature"])
def test_text_fields_must_be_short_strings(field: str) -> None:
    challenges = Challenges(EASY, "secret")
    payload = _payload(challenges)
    assert _refusal(challenges, {**payload, field: "a" * 1_001}).endswith(f"{field} is too long")
    assert _refusal(challenges, {**payload, field: 5}) == f"the solution's {field} is missing"
    del payload[field]
    assert _refusal(challenges, payload) == f"the solution's {field} is missing"


def test_only_sha256_is_accepted() -> None:
    challenges = Challenges(EASY, "secret")
    payload = {**_payload(challenges), "algorithm": "SHA-1"}
    assert _refusal(challenges, payload) == "only SHA-256 challenges are issued"


@pytest.mark.parametrize("payload", [[], "not base64!", 5, base64.b64encode(b"[1]").decode()])
def test_a_payload_that_is_not_an_object_is_garbled(payload: object) -> None:
    assert "garbled" in _refusal(Challenges(EASY, "secret"), payload)


# --- the session request (door.request.SessionRequest) ---------------------------------

RULES = SessionRules(
    refused=lambda device: device == "refused_device_0001",
    name_max_length=20,
    year=2030,
    min_age=18,
)
GOOD = {"device": "good_device_00001", "birth_year": 1990, "adult": True, "altcha": "x"}


def _session_refusal(body: object) -> tuple[str, str]:
    with pytest.raises(SessionRefused) as refused:
        SessionRequest.model_validate(body, context=RULES)
    return refused.value.code, refused.value.message


def test_a_good_session_request_is_parsed_with_its_age_outcome() -> None:
    request = SessionRequest.model_validate({**GOOD, "name": "  Ada   L "}, context=RULES)
    assert (request.device, request.name, request.altcha) == ("good_device_00001", "Ada L", "x")
    assert request.old_enough
    young = SessionRequest.model_validate({**GOOD, "birth_year": 2013}, context=RULES)
    assert not young.old_enough  # well-formed: the door refuses it as underage


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "send a JSON object"),
        ({**GOOD, "admin": True, "device": "short"}, "unknown fields: ['admin']"),
        ({**GOOD, "device": None}, "device must be 16-64 letters, digits, '-' or '_'"),
        ({"birth_year": 1990, "adult": True}, "device must be 16-64 letters, digits, '-' or '_'"),
        (
            {**GOOD, "name": "<b>"},
            "display name may contain letters, digits, spaces and _ . ' - only",
        ),
        ({**GOOD, "birth_year": "1990"}, "birth_year must be a whole number"),
        ({**GOOD, "birth_year": True}, "birth_year must be a whole number"),
        ({"device": "good_device_00001"}, "birth_year must be a whole number"),
        ({**GOOD, "birth_year": 1800}, "birth_year is not a plausible year"),
        ({**GOOD, "adult": 1}, "confirm that you are old enough (adult: true)"),
        (
            {**GOOD, "adult": None, "name": "<b>"},
            "display name may contain letters, digits, spaces and _ . ' - only",
        ),
    ],
)
def test_a_bad_session_request_gets_the_first_refusal_in_a_fixed_order(
    body: object, message: str
) -> None:
    assert _session_refusal(body) == ("bad_request", message)


def test_a_refused_device_is_told_so_before_its_other_mistakes() -> None:
    body = {**GOOD, "device": "refused_device_0001", "name": "<b>", "adult": False}
    assert _session_refusal(body)[0] == "refused"
    assert _session_refusal({**body, "device": "bad"})[0] == "bad_request"


# --- node bus messages (routing.messages: a union discriminated by ``kind``) -----------


def test_each_bus_message_kind_parses_to_its_model() -> None:
    offer = parse({"kind": "offer", "to": "v_1", "match": "m_1", "mode": "video", "from": {}})
    assert isinstance(offer, Offer) and (offer.to, offer.match, offer.mode) == (
        "v_1",
        "m_1",
        "video",
    )
    reply = parse({"kind": "reply", "match": "m_1", "accepted": True, "visitor": {"id": "v_2"}})
    assert isinstance(reply, Reply) and reply.accepted and reply.visitor == {"id": "v_2"}
    ended = parse({"kind": "ended", "to": "v_1", "match": "m_1"})
    assert isinstance(ended, Ended) and ended.reason == "left"
    event = parse({"kind": "event", "to": "v_1", "match": "m_1", "event": {"type": "typing"}})
    assert isinstance(event, Relayed) and event.event == {"type": "typing"}
    opened = parse({"kind": "video_open", "to": "v_1", "match": "m_1", "keyframe": 3})
    assert isinstance(opened, VideoOpen) and opened.keyframe == 3
    assert isinstance(parse({"kind": "rewire", "to": "v_1", "match": "m_1"}), Rewire)
    assert isinstance(parse({"kind": "requeue", "to": "v_1"}), Requeue)
    report = parse({"kind": "report", "to": "v_1", "filing": {"a": 1}, "reporter": {}})
    assert isinstance(report, Report) and report.filing == {"a": 1}


@pytest.mark.parametrize(
    "message",
    [
        [],
        {},
        {"kind": "launch"},
        {"kind": "event", "to": "v_1", "match": "m_1", "event": "chat"},
        {"kind": "event", "to": "v_1", "match": "m_1"},
        {"kind": "video_open", "to": "v_1", "keyframe": "3"},
        {"kind": "reply", "match": "m_1", "accepted": "yes"},
        {"kind": "ended", "to": 5, "match": "m_1"},
    ],
)
def test_a_bus_message_that_fits_no_kind_is_refused_whole(message: object) -> None:
    assert parse(message) is None


# --- one serializer per record: a visitor's description for another node ---------------


async def _nowhere(node: str, message: dict[str, Any]) -> None:
    raise AssertionError("nothing is sent")


def test_a_visitor_description_round_trips_through_its_one_serializer() -> None:
    remote = RemoteVisitor(
        id="v_1",
        node="n_2",
        ip="127.0.0.9",
        session="s_1",
        device="d" * 20,
        name="Ada",
        interests=("chess", "go"),
        audio=False,
        video=False,
        media=True,
        endpoint="127.0.0.1:9000/w1",
        mode="video",
    )
    description = describe(remote, remote.node, remote.endpoint)
    assert remote.describe() == description
    again = RemoteVisitor.from_description(description, "m_1", _nowhere)
    fields = ("id", "node", "ip", "session", "device", "name", "interests", "audio", "video")
    fields += ("media", "endpoint", "mode")
    assert [getattr(again, name) for name in fields] == [getattr(remote, name) for name in fields]
    assert again.match_id == "m_1"
