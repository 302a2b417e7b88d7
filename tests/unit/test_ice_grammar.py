"""The ICE candidate grammar is checked before aioice parses (and asserts on) a candidate."""

from __future__ import annotations

import pytest
from aioice.candidate import Candidate
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.ice_grammar import CandidateError, check_candidate

GOOD = [
    "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 "
    "rport 46154 generation 0 ufrag sXy2 network-cost 999",
    "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host",
    "candidate:4 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active",
    "candidate:7 1 udp 2113937151 5b1d0f-ab12.local 54400 typ host generation 0",
    "3 1 UDP 1 ::1 5000 typ relay raddr ::1 rport 0",
]


@pytest.mark.parametrize("text", GOOD)
def test_browser_candidates_pass_and_aioice_can_read_them(text: str) -> None:
    Candidate.from_sdp(check_candidate(text))


@pytest.mark.parametrize(
    "text",
    [
        "candidate:1 2 3",  # aioice: AssertionError
        "",
        "candidate:",
        "candidate:1 1 udp 1 127.0.0.1 9 typ",  # 7 fields
        "candidate:1 x udp 1 127.0.0.1 9 typ host",  # component not a number
        "candidate:1 0 udp 1 127.0.0.1 9 typ host",  # component 0
        "candidate:1 1 udp 99999999999 127.0.0.1 9 typ host",  # priority >= 2^32
        "candidate:1 1 udp 1 127.0.0.1 70000 typ host",  # port > 65535
        "candidate:1 1 udp 1 127.0.0.1 -1 typ host",
        "candidate:1 1 udp 1 127.0.0.1 9 type host",
        "candidate:1 1 udp 1 127.0.0.1 9 typ martian",
        "candidate:1 1 udp 1 127.0.0.1 9 typ host rport",  # odd extension
        "candidate:1 1 udp 1 127.0.0.1 9 typ host rport 99999",
        "candidate:1 1 udp 1 127.0.0.1 9 typ host generation x",
        "candidate:1 1 udp 1 <script> 9 typ host",
        "candidate:1  1 udp 1 127.0.0.1 9 typ host",  # empty field
        "candidate:" + "9" * 5_000 + " 1 udp 1 127.0.0.1 9 typ host",
    ],
)
def test_malformed_candidates_are_refused(text: str) -> None:
    with pytest.raises(CandidateError):
        check_candidate(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=0, max_size=14).map(" ".join))
def test_whatever_passes_the_grammar_aioice_can_parse(text: str) -> None:
    try:
        body = check_candidate(text)
    except CandidateError:
        return
    Candidate.from_sdp(body)
