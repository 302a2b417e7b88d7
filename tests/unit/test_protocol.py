"""Protocol validation: every refusal has a stable code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling.protocol import (
    Answer,
    Candidate,
    Chat,
    ErrorEvent,
    Join,
    MatchedEvent,
    ProtocolError,
    Typing,
    parse_client_message,
)


def test_valid_messages_parse_to_their_models() -> None:
    assert parse_client_message('{"type":"join","mode":"video"}') == Join(type="join", mode="video")
    assert isinstance(parse_client_message('{"type":"answer","sdp":"v=0"}'), Answer)
    assert parse_client_message('{"type":"typing","on":false}') == Typing(type="typing", on=False)
    chat = parse_client_message('{"type":"chat","text":"<b>hi</b>"}')
    assert isinstance(chat, Chat) and chat.text == "<b>hi</b>"


def test_candidate_accepts_browser_shape_and_null() -> None:
    msg = parse_client_message(
        json.dumps(
            {
                "type": "candidate",
                "candidate": {
                    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                    "usernameFragment": "abcd",
                },
            }
        )
    )
    assert isinstance(msg, Candidate) and msg.candidate is not None
    assert msg.candidate.sdpMid == "0"
    end = parse_client_message('{"type":"candidate","candidate":null}')
    assert isinstance(end, Candidate) and end.candidate is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "bad_json"),
        ("nope", "bad_json"),
        ('"join"', "invalid_message"),
        ("{}", "invalid_message"),
        ('{"type":null}', "invalid_message"),
        ('{"type":"JOIN","mode":"video"}', "unknown_type"),
        ('{"type":"join"}', "invalid_message"),
        ('{"type":"join","mode":"video","admin":true}', "invalid_message"),
        ('{"type":"typing","on":1}', "invalid_message"),
        ('{"type":"typing","on":"true"}', "invalid_message"),
        ('{"type":"chat","text":""}', "invalid_message"),
        ('{"type":"chat","text":7}', "invalid_message"),
        ('{"type":"answer","sdp":""}', "invalid_message"),
        (
            '{"type":"candidate","candidate":{"candidate":"x","sdpMLineIndex":-1}}',
            "invalid_message",
        ),
        (b"{}", "binary_not_supported"),
        # Numbers a client can use to make the parser raise something else.
        ('{"type":"typing","on":' + "9" * 5_000 + "}", "bad_number"),
        ('{"type":"join","mode":"text","interests":[' + "1" * 21 + "]}", "bad_number"),
        ('{"type":"typing","on":1e400}', "bad_number"),
        ('{"type":"typing","on":-1e400}', "bad_number"),
        ('{"type":"typing","on":NaN}', "bad_number"),
        ('{"type":"typing","on":Infinity}', "bad_number"),
        ('{"type":"typing","on":-Infinity}', "bad_number"),
        ('{"type":"typing","on":0.' + "1" * 100 + "}", "bad_number"),
        ("[" * 100_000, "bad_json"),
    ],
)
def test_refusals_have_stable_codes(raw: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(raw)
    assert info.value.code == code
    assert info.value.message


def test_unknown_type_message_is_bounded() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(json.dumps({"type": "x" * 10_000}))
    assert len(info.value.message) < 100


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_crashes_the_parser(value: object) -> None:
    raw = json.dumps(value)
    try:
        parse_client_message(raw)
    except ProtocolError as exc:
        assert exc.code in {"invalid_message", "unknown_type", "bad_number"}


def test_events_serialise_with_their_type() -> None:
    assert json.loads(MatchedEvent(match="m_1", mode="text").dump()) == {
        "type": "matched",
        "match": "m_1",
        "mode": "text",
        "interests": [],
        "partner_name": None,
    }
    assert json.loads(ErrorEvent(code="bad_json", message="x").dump())["type"] == "error"
