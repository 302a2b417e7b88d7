"""Settings of the reviewer console and appeals (the ``[admin]`` table of ``configs/duet.toml``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AdminSettings(BaseModel):
    """Reviewer accounts, their sessions, login throttling, the queue's claims, appeals."""

    session_ttl_s: float = Field(default=43_200.0, gt=0)
    """A reviewer session ends this many seconds after login, however busy (12 h)."""

    session_idle_s: float = Field(default=1_800.0, gt=0)
    """A reviewer session ends after this many seconds without a request (30 min)."""

    secure_cookie: bool = False
    """Always mark the session cookie ``Secure``. It is marked anyway when the request came
    over https; set this when a proxy terminates TLS without saying so (X-Forwarded-Proto)."""

    login_window_s: float = Field(default=900.0, gt=0)
    """Window in which failed logins are counted, in seconds."""

    login_failures_per_name: int = Field(default=5, ge=1)
    """Failed logins for one account name within ``login_window_s`` that lock it."""

    login_failures_per_ip: int = Field(default=20, ge=1)
    """Failed logins from one IP address within ``login_window_s`` that block it."""

    lockout_s: float = Field(default=900.0, gt=0)
    """How long a locked account name or blocked IP is refused, even with the right
    password, in seconds."""

    min_password_length: int = Field(default=12, ge=8, le=128)
    """Shortest password accepted for a reviewer account."""

    claim_lease_s: float = Field(default=300.0, gt=0)
    """Opening a queue item reserves it for its reviewer for this many seconds; nobody
    else can open or decide it meanwhile."""

    appeal_max_length: int = Field(default=1000, ge=50, le=5000)
    """Longest appeal text a banned visitor may send, in characters."""
