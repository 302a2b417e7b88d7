"""The ICE candidate grammar (RFC 8839 section 5.1), checked before aiortc sees a candidate.

aioice's ``Candidate.from_sdp`` asserts on short input and raises whatever ``int()`` raises
on bad numbers; a trickled candidate comes straight from a visitor, so it is checked here
first and refused with :class:`CandidateError` (the ``bad_candidate`` error code)::

    candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
              [raddr <address>] [rport <port>] *(<extension name> <extension value>)
"""

from __future__ import annotations

import re

_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,32}")
_DIGITS = re.compile(r"[0-9]{1,10}")
# An IPv4/IPv6 address or a host name (mDNS ``*.local`` names included).
_ADDRESS = re.compile(r"[A-Za-z0-9:.\-%]{1,255}")
TYPES = frozenset({"host", "srflx", "prflx", "relay"})


class CandidateError(ValueError):
    """The candidate does not follow the grammar; the message says where."""


def check_candidate(text: str) -> str:
    """Return the candidate's fields part (without ``candidate:``) if it follows the
    grammar, else raise :class:`CandidateError`. Assumes ``text`` is one line."""
    body = text[len("candidate:") :] if text.startswith("candidate:") else text
    bits = body.split(" ")
    if len(bits) < 8:
        raise CandidateError(f"an ICE candidate has at least 8 fields, this one {len(bits)}")
    foundation, component, transport, priority, address, port, typ, kind = bits[:8]
    if not _FOUNDATION.fullmatch(foundation):
        raise CandidateError("bad candidate foundation")
    if not _DIGITS.fullmatch(component) or not 1 <= int(component) <= 256:
        raise CandidateError("bad candidate component (1-256)")
    if not _TOKEN.fullmatch(transport):
        raise CandidateError("bad candidate transport")
    if not _DIGITS.fullmatch(priority) or int(priority) >= 2**32:
        raise CandidateError("bad candidate priority")
    if not _ADDRESS.fullmatch(address):
        raise CandidateError("bad candidate address")
    _port(port)
    if typ != "typ" or kind not in TYPES:
        raise CandidateError("expected 'typ host|srflx|prflx|relay'")
    rest = bits[8:]
    if len(rest) % 2:
        raise CandidateError("candidate extensions come in name/value pairs")
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        if not _TOKEN.fullmatch(name) or not value or len(value) > 255:
            raise CandidateError("bad candidate extension")
        if name == "raddr" and not _ADDRESS.fullmatch(value):
            raise CandidateError("bad candidate raddr")
        if name == "rport":
            _port(value)
        if name == "generation" and not _DIGITS.fullmatch(value):
            raise CandidateError("bad candidate generation")
    return body


def _port(value: str) -> None:
    if not _DIGITS.fullmatch(value) or int(value) > 65535:
        raise CandidateError("bad candidate port (0-65535)")
