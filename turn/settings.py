"""Settings of TURN/STUN for browsers (the ``[turn]`` table of ``configs/duet.toml``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

PLACEHOLDER_SECRET = "change-me-turn-secret"


class TurnSettings(BaseModel):
    """ICE servers handed to browsers, with time-limited TURN credentials."""

    stun_urls: list[str] = Field(default_factory=list)
    """STUN URLs given to browsers, e.g. ``["stun:stun.example.org:3478"]``."""

    urls: list[str] = Field(default_factory=list)
    """TURN URLs given to browsers (``turn:host:3478?transport=udp`` ...). Empty: no TURN."""

    secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    """Shared secret with coturn (``static-auth-secret``). Refused in production as-is."""

    ttl_seconds: int = Field(default=86_400, gt=0)
    """Lifetime of a TURN credential (coturn rejects it after this many seconds)."""

    force_relay: bool = False
    """Tell browsers to use only relayed candidates (``iceTransportPolicy = "relay"``)."""
