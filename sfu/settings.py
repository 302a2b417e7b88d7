"""Settings of the media plane (the ``[sfu]`` table of ``configs/duet.toml``)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator


class SfuSettings(BaseModel):
    """How the SFU gathers candidates and forwards media."""

    workers: Annotated[int, Field(ge=0, le=256)] | Literal["auto"] = "auto"
    """SFU worker processes: ``"auto"`` is one per CPU core; 0 runs the SFU inside the
    signaling process (one event loop: about 12-25 calls per core at most)."""

    host_addresses: list[str] = Field(default_factory=list)
    """Local addresses the SFU gathers ICE host candidates on.

    Empty means every address aioice finds (all interfaces except loopback). Tests and
    loopback benchmarks use ``["127.0.0.1"]`` so that no packet leaves 127.0.0.0/8."""

    announced_address: str = ""
    """Address put in the SFU's host candidates instead of the bound one, for a server
    behind 1:1 NAT (its public address). Empty: announce the bound address."""

    port_min: int = Field(default=0, ge=0, le=65535)
    """Lowest UDP port for the SFU's candidates (0 with ``port_max`` 0: any free port)."""

    port_max: int = Field(default=0, ge=0, le=65535)
    """Highest UDP port for the SFU's candidates; each visitor uses one."""

    forwarding: Literal["passthrough", "packets", "transcode"] = "packets"
    """``packets`` (the default) forwards RTP packets as they arrive (no reassembly into
    frames, no re-packetising: :mod:`sfu.packets`; the steady flow in C where it is built,
    ``native``); ``passthrough`` forwards encoded frames (no decoding, no encoding; the
    previous default, kept selectable for one release); ``transcode`` decodes and
    re-encodes every frame as aiortc's MediaRelay does (kept to compare)."""

    native: bool = True
    """With ``forwarding = "packets"``, forward the steady flow of RTP packets in C when the
    optional extension ``sfu._native`` is built (``sfu/_native.c``, compiled when Duet is
    installed); off, or where it is not built, the Python fast path forwards them.
    ``/healthz`` (``packet_path``) says which is in use."""

    uplink_estimation: bool = False
    """Estimate each visitor's uplink bandwidth at the SFU (REMB from aiortc's estimator).
    It runs in Python on every video packet (~15 % of passthrough's CPU); off, a visitor's
    sender follows its partner's relayed estimate (REMB) and its own loss-based control."""

    stats_interval_s: float = Field(default=2.0, gt=0)
    """How often per-visitor media statistics (bitrates, fps, candidate type) are sampled."""

    pipe_host: str = "127.0.0.1"
    """Address of this process's pipe socket (UDP), over which other SFU processes pull a
    visitor's media when a match spans processes or nodes. Use a private address."""

    pipe_port: int = Field(default=0, ge=0, le=65535)
    """Port of the pipe socket (0: any free port; each SFU process needs its own)."""

    pipe_announced_address: str = ""
    """Address other nodes reach the pipe at, if not ``pipe_host`` (e.g. 0.0.0.0 binds)."""

    pipe_chunk_bytes: int = Field(default=1200, ge=200, le=60_000)
    """Largest pipe datagram payload: 1200 crosses any network; up to 60000 on loopback."""

    stun_urls: list[str] = Field(default_factory=list)
    """STUN servers the SFU itself uses to learn a server-reflexive address (rarely needed:
    a server with a public address announces host candidates)."""

    @model_validator(mode="after")
    def _check_ports(self) -> SfuSettings:
        if (self.port_min == 0) != (self.port_max == 0) or self.port_min > self.port_max:
            raise ValueError("sfu.port_min and sfu.port_max form a range (or are both 0)")
        return self

    @property
    def worker_count(self) -> int:
        if self.workers == "auto":
            return max(1, os.cpu_count() or 1)
        return self.workers

    @property
    def port_range(self) -> tuple[int, int] | None:
        return (self.port_min, self.port_max) if self.port_min else None
