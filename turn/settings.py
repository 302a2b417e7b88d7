"""Settings of TURN/STUN for browsers (the ``[turn]`` table of ``configs/duet.toml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

PLACEHOLDER_SECRET = "change-me-turn-secret"

Transport = Literal["udp", "tcp", "tls"]
ALL_TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")


class TurnRegion(BaseModel):
    """One coturn deployment, offered to browsers near it."""

    name: str = Field(min_length=1, max_length=40)
    """Short name, e.g. ``ams``."""
    host: str = Field(min_length=1)
    """Host name or address browsers reach the TURN server at."""
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    port: int = Field(default=3478, gt=0, le=65535)
    """Port of ``turn:`` over UDP and TCP."""
    tls_port: int = Field(default=443, gt=0, le=65535)
    """Port of ``turns:`` (TURN over TLS): 443 gets through firewalls that allow only HTTPS."""
    transports: list[Transport] = Field(default_factory=lambda: list(ALL_TRANSPORTS))
    """Which of the three URLs to offer (UDP first: lowest latency; TLS on 443 last)."""


class CoturnSettings(BaseModel):
    """What ``duet turn config`` writes into a coturn configuration."""

    realm: str = "duet"
    """coturn realm (any stable name)."""
    listening_ip: str = "0.0.0.0"
    """Address coturn listens on."""
    listening_port: int = Field(default=3478, gt=0, le=65535)
    """Port for TURN over UDP and TCP."""
    tls_listening_port: int = Field(default=443, gt=0, le=65535)
    """Port for TURN over TLS (needs ``cert_file`` and ``pkey_file``)."""
    relay_ip: str = ""
    """Address relayed traffic leaves from (empty: coturn chooses)."""
    external_ip: str = ""
    """Public address when coturn runs behind 1:1 NAT (``external-ip``); empty: none."""
    min_port: int = Field(default=49152, gt=0, le=65535)
    """Lowest UDP port used for relay allocations."""
    max_port: int = Field(default=65535, gt=0, le=65535)
    """Highest UDP port used for relay allocations."""
    cert_file: str = ""
    """TLS certificate (PEM) for ``turns:``; empty disables TLS."""
    pkey_file: str = ""
    """TLS private key (PEM) for ``turns:``."""

    @model_validator(mode="after")
    def _check(self) -> CoturnSettings:
        if self.min_port > self.max_port:
            raise ValueError("turn.coturn.min_port must not exceed max_port")
        if bool(self.cert_file) != bool(self.pkey_file):
            raise ValueError("turn.coturn.cert_file and pkey_file go together")
        return self


class TurnSettings(BaseModel):
    """ICE servers handed to browsers, with time-limited TURN credentials."""

    stun_urls: list[str] = Field(default_factory=list)
    """STUN URLs given to every browser, e.g. ``["stun:stun.example.org:3478"]``."""

    regions: list[TurnRegion] = Field(default_factory=list)
    """TURN deployments. Empty: no TURN (fine on one machine or a LAN)."""

    nearest: int = Field(default=2, ge=1, le=10)
    """How many regions (the nearest) a browser is given: fewer servers, faster ICE."""

    default_region: str = ""
    """Region assumed for browsers that cannot be located (empty: the first region)."""

    geoip_database: Path | None = None
    """A MaxMind City database (``.mmdb``) to locate browsers by IP; none: default region."""

    secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    """Shared secret with coturn (``static-auth-secret``). Refused in production as-is."""

    secret_file: Path | None = None
    """Read the secret from this file instead (first line); overrides ``secret``."""

    ttl_seconds: int = Field(default=86_400, gt=0)
    """Lifetime of a TURN credential (coturn refuses it after this many seconds)."""

    force_relay: bool = False
    """Tell browsers to use relayed candidates only (``iceTransportPolicy = "relay"``)."""

    coturn: CoturnSettings = Field(default_factory=CoturnSettings)

    @model_validator(mode="after")
    def _check(self) -> TurnSettings:
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError("turn.regions names must be unique")
        if self.default_region and self.default_region not in names:
            raise ValueError(f"turn.default_region {self.default_region!r} is not a region")
        if self.force_relay and not self.regions:
            raise ValueError("turn.force_relay needs at least one region")
        return self

    def shared_secret(self) -> str:
        """The secret shared with coturn (from ``secret_file`` if set)."""
        if self.secret_file is not None:
            lines = self.secret_file.read_text().splitlines()
            if not lines or not lines[0].strip():
                raise ValueError(f"turn.secret_file {self.secret_file} is empty")
            return lines[0].strip()
        return self.secret.get_secret_value()
