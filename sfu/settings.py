"""Settings of the media plane (the ``[sfu]`` table of ``configs/duet.toml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SfuSettings(BaseModel):
    """How the SFU gathers candidates and forwards media."""

    host_addresses: list[str] = Field(default_factory=list)
    """Local addresses the SFU gathers ICE host candidates on.

    Empty means every address aioice finds (all interfaces except loopback). Tests and
    loopback benchmarks use ``["127.0.0.1"]`` so that no packet leaves 127.0.0.0/8."""

    forwarding: Literal["passthrough", "transcode"] = "passthrough"
    """``passthrough`` forwards encoded frames (no decoding, no encoding); ``transcode``
    decodes and re-encodes every frame as aiortc's MediaRelay does (kept to compare)."""

    stats_interval_s: float = Field(default=2.0, gt=0)
    """How often per-visitor media statistics (bitrates, fps, candidate type) are sampled."""

    stun_urls: list[str] = Field(default_factory=list)
    """STUN servers the SFU itself uses to learn a server-reflexive address (rarely needed:
    a server with a public address announces host candidates)."""
