"""``GET /healthz``: liveness and a few counts, for load balancers and humans; ``GET /source``."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse

from sfu.aiortc_fastpath import NATIVE_BUILT
from sfu.settings import SfuSettings


async def healthz(request: Request) -> JSONResponse:
    services = request.app.state.services
    lobby = services.lobby
    snapshot = services.media.snapshot()
    return JSONResponse(
        {
            "status": "ok",
            "version": version("duet"),
            "visitors": len(lobby.visitors),
            "node": services.settings.node_name,
            "online_all_nodes": (
                services.shared.online if services.shared is not None else len(lobby.visitors)
            ),
            "waiting": {mode: lobby.waiting(mode) for mode in ("video", "text")},
            "forwarding": services.settings.sfu.forwarding,
            "packet_path": _packet_path(services.settings.sfu, snapshot.totals),
            "sfu_processes": [
                {"index": p.index, "pid": p.pid, "peers": p.peers} for p in snapshot.processes
            ],
            "moderation": _moderation_summary(services.moderation.snapshot()),
        }
    )


def _packet_path(sfu: SfuSettings, totals: Any) -> dict[str, Any] | None:
    """Which per-packet path forwards media in ``packets`` mode: ``native`` (the C extension
    ``sfu._native``, built at install and on with ``sfu.native``) or the synchronous
    ``python-fast-path``; and how many packets each has handled."""
    if sfu.forwarding != "packets":
        return None
    native = NATIVE_BUILT and sfu.native
    return {
        "path": "native" if native else "python-fast-path",
        "native": native,
        "native_built": NATIVE_BUILT,
        "fast_path_packets": totals.fast_packets,
        "native_packets": totals.native_packets,
    }


def _moderation_summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A few moderation facts (the full counters go to ``/metrics``)."""
    workers = snapshot.get("workers", {})
    return {
        "enabled": snapshot["enabled"],
        "status": snapshot.get("status"),
        "breaker": snapshot.get("breaker", {}).get("state"),
        "workers_ready": workers.get("ready", 0),
        "worker_restarts": workers.get("restarts", 0),
        "checks_run": snapshot["checks_run"],
        "holds": snapshot.get("holds", 0),
    }


async def source(request: Request) -> RedirectResponse:
    """``GET /source``: to the source code of this installation (``source_url``), as the
    AGPL asks of a network service."""
    return RedirectResponse(request.app.state.services.settings.source_url, status_code=302)
