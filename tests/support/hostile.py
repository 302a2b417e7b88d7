"""Hypothesis strategies for hostile ``/ws`` frames: wrong types, huge strings, deep
nesting, lone surrogates, binary frames with invalid UTF-8, unknown fields, floods."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from signaling.protocol import CLIENT_TYPES

TYPES = sorted(CLIENT_TYPES)
FIELDS = [
    "mode", "sdp", "candidate", "text", "on", "audio", "video", "reason", "comment",
    "interests", "language", "restart", "extra", "__proto__", "constructor",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["video", "text", "nudity", "spam", "", " ", "<script>", "\u202e", "en"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)


@st.composite
def message_like(draw: st.DrawFn) -> str:
    """A JSON object that looks like a client message but is likely wrong somewhere."""
    kind = draw(st.one_of(st.sampled_from(TYPES), st.text(max_size=12), json_values))
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4))
    ascii_only = draw(st.booleans())
    return json.dumps({"type": kind, **fields}, ensure_ascii=ascii_only)


def _nested(depth: int, opener: str, closer: str) -> str:
    return opener * depth + closer * depth


hostile_frames: st.SearchStrategy[str | bytes] = st.one_of(
    message_like(),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(1, 20_000).map(lambda n: _nested(n, "[", "]")),
    st.integers(1, 5_000).map(lambda n: '{"type":' * n + "1" + "}" * n),
    st.integers(60_000, 120_000).map(lambda n: json.dumps({"type": "chat", "text": "x" * n})),
    st.integers(1_001, 3_000).map(lambda n: json.dumps({"type": "chat", "text": "y" * n})),
    st.just('{"type":"chat","text":"\\ud800\\udfff\\ud800"}'),
    st.just('{"type":"\\ud800"}'),
    st.just(json.dumps({"type": "join", "mode": "text", "interests": ["a"] * 1000})),
    st.just(json.dumps({"type": "report", "reason": "spam", "comment": "z" * 5_000})),
    st.sampled_from(
        [json.dumps({"type": "typing", "on": True}), json.dumps({"type": "chat", "text": "hi"})]
    ),
)
"""One hostile frame (text or binary)."""


def is_malformed(frame: str | bytes, max_bytes: int) -> bool:
    """Whether the server must refuse ``frame`` before acting on it (an ``error``)."""
    from signaling.protocol import ProtocolError, parse_client_message

    if len(frame) > max_bytes:
        return True
    try:
        parse_client_message(frame)
    except ProtocolError:
        return True
    return False


def as_frame(value: Any) -> str:
    return json.dumps(value)
