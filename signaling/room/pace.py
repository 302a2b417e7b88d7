"""How fast one visitor may act in the room: the per-visitor limits of ``[limits]``.

The lobby asks before acting on ``join``, ``next``, ``chat``, ``typing``/``media`` and
``report``. A refusal is a :class:`~signaling.protocol.ProtocolError` with code
``rate_limited`` and ``retry_after`` (the lobby turns it into an ``error`` event), or a
:class:`~signaling.protocol.Disconnect` after repeated chat violations. Going over the
join or next limit also marks the visitor's IP and device as suspects (harder challenge).
"""

from __future__ import annotations

from collections.abc import Callable

from signaling.door.limits import ChatBackoff, LimitName, RateLimits
from signaling.protocol import Disconnect, ProtocolError
from signaling.room.visitor import Visitor

Suspect = Callable[[str, str | None], None]


class Pace:
    def __init__(self, limits: RateLimits, backoff: ChatBackoff, suspect: Suspect) -> None:
        self.limits = limits
        self.backoff = backoff
        self.suspect = suspect
        self.disconnects = 0
        """Visitors disconnected for repeated chat violations (for metrics)."""

    async def join(self, visitor: Visitor) -> None:
        await self._bot_limited(visitor, "joins", "joining too often")

    async def next(self, visitor: Visitor) -> None:
        await self._bot_limited(visitor, "nexts", "skipping too often")

    async def report(self, visitor: Visitor) -> None:
        if not await self.limits.hit("reports", visitor.limit_key):
            retry = await self.limits.retry_after("reports", visitor.limit_key)
            raise ProtocolError("rate_limited", "too many reports: try again later", retry)

    async def chatter(self, visitor: Visitor) -> bool:
        """``typing`` and ``media``: ``False`` means drop it quietly (no error: a flood of
        them must cost the server and the partner nothing)."""
        return await self.limits.hit("typing", visitor.limit_key)

    async def chat(self, visitor: Visitor) -> None:
        key = visitor.limit_key
        result = self.backoff.check(key)
        if result.outcome == "ok":
            if await self.limits.hit("chat", key):
                return
            result = self.backoff.tripped(key)
        if result.outcome == "disconnect":
            self.disconnects += 1
            raise Disconnect("rate_limited", "too many messages: you have been disconnected")
        raise ProtocolError(
            "rate_limited",
            f"slow down: you can chat again in {result.retry_after:.0f} s",
            round(result.retry_after, 1),
        )

    async def _bot_limited(self, visitor: Visitor, name: LimitName, what: str) -> None:
        if await self.limits.hit(name, visitor.limit_key):
            return
        self.suspect(visitor.ip, visitor.device)
        retry = await self.limits.retry_after(name, visitor.limit_key)
        raise ProtocolError("rate_limited", f"{what}: wait a moment", retry)
