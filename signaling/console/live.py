"""Who is online right now, read from this node's lobby; a moderator's disconnect.

Single process: the lobby of this node is the whole truth (the Redis issue spreads it).
Listing is bounded (:data:`MAX_LISTED` visitors); counts cover everyone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from signaling.protocol import ErrorEvent
from signaling.room.lobby import Lobby

MAX_LISTED = 500


def online(lobby: Lobby) -> dict[str, Any]:
    """Visitors by mode and state: ``{"video": {"waiting": n, "matched": n}, ...}``."""
    counts: Counter[tuple[str, str]] = Counter(
        (v.mode or "none", v.state) for v in lobby.visitors.values()
    )
    by_mode = {
        mode: {"waiting": counts[(mode, "waiting")], "matched": counts[(mode, "matched")]}
        for mode in ("video", "text")
    }
    return {
        **by_mode,
        "idle": sum(n for (mode, state), n in counts.items() if state == "idle"),
        "total": len(lobby.visitors),
    }


def snapshot(lobby: Lobby) -> dict[str, Any]:
    """Connected visitors and their matches (the first :data:`MAX_LISTED`)."""
    now = lobby.clock()
    wall = lobby.wall().timestamp()
    visitors = list(lobby.visitors.values())[:MAX_LISTED]
    matches: dict[str, dict[str, Any]] = {}
    for visitor in visitors:
        match = visitor.match
        if match is not None and match.id not in matches:
            matches[match.id] = {
                "id": match.id,
                "mode": match.mode,
                "a": match.a.id,
                "b": match.b.id,
                "started_at": match.started_at.isoformat(),
                "duration_s": round(now - match.started_clock, 1),
            }
    return {
        "at": wall,
        "online": online(lobby),
        "visitors": [
            {
                "id": v.id,
                "ip": v.ip,
                "state": v.state,
                "mode": v.mode,
                "match": None if v.match is None else v.match.id,
            }
            for v in visitors
        ],
        "matches": list(matches.values()),
        "truncated": len(lobby.visitors) > MAX_LISTED,
    }


async def disconnect(lobby: Lobby, visitor_id: str) -> bool:
    """End a visitor's connection now (it may come back: ban it to keep it out)."""
    event = ErrorEvent(code="disconnected", message="a moderator ended your connection")
    return await lobby.remove(visitor_id, event)
