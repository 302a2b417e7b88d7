"""Settings of the door (``[door]``, ``[limits]``, ``[reports]``, ``[retention]`` and
``[blocks]`` tables of ``configs/duet.toml``).

Rate limits are written in the ``limits`` package's notation ("5 per 5 seconds",
"30/minute") and parsed when the settings load, so a typo fails at start-up.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from limits import parse as parse_limit
from pydantic import AfterValidator, BaseModel, Field


def _valid_limit(value: str) -> str:
    try:
        parse_limit(value)
    except ValueError:
        raise ValueError(f"not a rate limit: {value!r} (write e.g. '5 per 5 seconds')") from None
    return value


def _valid_networks(value: list[str]) -> list[str]:
    for network in value:
        ipaddress.ip_network(network, strict=False)
    return value


RateLimit = Annotated[str, AfterValidator(_valid_limit)]
"""A rate limit in the ``limits`` package's notation, e.g. ``"5 per 5 seconds"``."""


class ChallengeSettings(BaseModel):
    """The proof-of-work challenge (ALTCHA v1: SHA-256 of salt + a secret number)."""

    enabled: bool = True
    """Ask for a solved challenge before issuing a session. Turn it off only for
    development and tests."""

    max_number: int = Field(default=50_000, ge=100, le=100_000_000)
    """Difficulty: the secret number is drawn from 0..max_number, so a browser computes
    about max_number / 2 hashes (50,000: well under a second in a Web Worker)."""

    suspect_max_number: int = Field(default=1_000_000, ge=100, le=100_000_000)
    """Difficulty for an IP or device that behaved like a bot (rapid connects, joins or
    skips) within ``door.suspect_for_s``."""

    expires_s: float = Field(default=300.0, gt=0, le=86_400)
    """A challenge must be solved and used within this many seconds. Each one is used once."""


class DoorSettings(BaseModel):
    """Who gets in: the age gate, the challenge, sessions, origins and timeouts."""

    challenge: ChallengeSettings = Field(default_factory=ChallengeSettings)

    min_age: int = Field(default=18, ge=13, le=99)
    """Minimum age. A birth year under it is refused, and the refusal is final for that
    browser (remembered by device id and a cookie)."""

    refusal_memory_s: float = Field(default=86_400.0, gt=0)
    """How long a refused device id is remembered, in seconds (in memory)."""

    session_ttl_s: float = Field(default=43_200.0, gt=60)
    """How long a session token is valid, in seconds. The page asks for a new one after."""

    cookie_name: str = Field(default="duet_session", pattern=r"^[A-Za-z0-9_]{1,32}$")
    """Name of the HttpOnly, SameSite=Strict cookie holding the session token."""

    display_name_max_length: int = Field(default=24, ge=1, le=64)
    """Longest optional display name, in characters (letters, digits, spaces, ``_-.'``)."""

    allowed_origins: list[str] = Field(default_factory=list)
    """Origins (``https://duet.example.org``) whose pages may open ``/ws``. Empty: only the
    page's own host. Clients that send no Origin (not browsers) are let in."""

    suspect_for_s: float = Field(default=3_600.0, gt=0)
    """How long an IP or device that tripped a connect, join or next limit is a suspect
    (harder challenge), in seconds."""

    idle_timeout_s: float = Field(default=120.0, gt=0)
    """A socket that sends nothing (not even ``ping``) for this long is closed."""

    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    """``Strict-Transport-Security`` max-age on responses served over https (0: none)."""


class LimitSettings(BaseModel):
    """Rate limits ("N per period", the ``limits`` package's notation). Memory storage in
    one process; the scale-out work moves it to Redis."""

    http_per_ip: RateLimit = "300 per minute"
    """HTTP requests per IP; more get 429 with Retry-After."""

    ws_connects_per_ip: RateLimit = "30 per minute"
    """WebSocket connections opened per IP; more are closed at once (code 1013)."""

    sessions_per_ip: RateLimit = "10 per minute"
    """Sessions created (``POST /api/session``) per IP; more get 429."""

    joins: RateLimit = "20 per minute"
    """``join`` messages per visitor."""

    nexts: RateLimit = "30 per minute"
    """``next`` messages per visitor."""

    chat: RateLimit = "5 per 5 seconds"
    """Chat messages per visitor. Going over starts a timeout."""

    chat_timeout_s: float = Field(default=10.0, gt=0)
    """First chat timeout, in seconds; each further one doubles it ..."""

    chat_timeout_max_s: float = Field(default=300.0, gt=0)
    """... up to this many seconds."""

    chat_violations_to_disconnect: int = Field(default=10, ge=1)
    """Chat limit violations (a timeout started, or a message sent during one) after which
    the visitor is disconnected. They are forgotten after ``chat_timeout_max_s`` without one."""

    typing: RateLimit = "20 per 10 seconds"
    """``typing`` and ``media`` messages per visitor; more are dropped without an error."""

    reports: RateLimit = "10 per hour"
    """``report`` messages per visitor session."""

    exempt_networks: Annotated[list[str], AfterValidator(_valid_networks)] = Field(
        default_factory=list
    )
    """Networks (CIDR) exempt from the per-IP limits, e.g. a load tester's address."""


class ReportSettings(BaseModel):
    """Reports: a signal, never a verdict."""

    cooldown_s: float = Field(default=30.0, ge=0)
    """Shortest time between two reports by one visitor, in seconds."""

    attached_messages: int = Field(default=20, ge=0, le=200)
    """Last chat messages of the match attached to a report (kept in memory only while
    the match lasts, stored only with a report)."""

    comment_max_length: int = Field(default=500, ge=0, le=5_000)
    """Longest report comment, in characters."""

    report_after_s: float = Field(default=60.0, ge=0)
    """A visitor may still report their last partner this many seconds after the match
    ended (after Next)."""

    verbal_window_s: float = Field(default=3_600.0, gt=0)
    """Window in which verbal reports (harassment, hate, spam, other) about one person add
    up, in seconds."""

    verbal_threshold: int = Field(default=3, ge=1)
    """Distinct reporters within the window that ban. Reporters sharing a session, device
    or network (IPv4 address, IPv6 /64) count once."""

    verbal_min_match_s: float = Field(default=5.0, ge=0)
    """A verbal report counts toward a ban only from someone who was matched with the
    reported person for at least this many seconds (a drive-by report is stored for
    reviewers but adds no weight)."""

    ban_duration_s: float = Field(default=86_400.0, gt=0)
    """How long a ban for verbal reports lasts, in seconds."""


class BlockSettings(BaseModel):
    """Blocks: the blocked partner is never matched with the blocker again."""

    ttl_s: float = Field(default=604_800.0, gt=0)
    """How long a block of the partner's session and device lasts, in seconds (in memory)."""

    ip_ttl_s: float = Field(default=3_600.0, ge=0)
    """How long a block of the partner's IP lasts, in seconds: shorter, since others may
    share that address (0: blocks never cover the IP)."""

    max_per_visitor: int = Field(default=500, ge=1)
    """Blocks kept per blocker identifier; the oldest go first."""


class RetentionSettings(BaseModel):
    """The periodic purge of stored data. Evidence follows its own setting,
    ``moderation.evidence_retention_days``."""

    interval_s: float = Field(default=3_600.0, gt=0)
    """How often the purge runs, in seconds."""

    matches_days: float = Field(default=30.0, gt=0)
    """Ended match records older than this many days are deleted."""

    sessions_days: float = Field(default=7.0, gt=0)
    """Session records that expired more than this many days ago are deleted."""

    chat_attachments_hours: float = Field(default=24.0, gt=0)
    """Chat messages attached to reports are deleted after this many hours, unless the
    report is still under review."""
