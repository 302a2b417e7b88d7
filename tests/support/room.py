"""An in-process lobby for fast room tests: text mode (no SFU), a fake clock, real rate
limits (memory storage), real blocks and reports, a fake moderation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from duet.person import Person
from sfu import Router
from signaling.config.settings import Settings
from signaling.door.limits import ChatBackoff, RateLimits
from signaling.protocol import ClientMessage, ProtocolError, parse_client_message
from signaling.room.lobby import Lobby
from signaling.room.pace import Pace
from signaling.room.reports import MemoryReportSink, ReportDesk
from signaling.room.visitor import Visitor


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class NullMatches:
    """A match store that stores nothing."""

    async def started(self, *args: Any) -> None:
        return None

    async def ended(self, *args: Any) -> None:
        return None


class InlineWriter:
    """Drops background writes (nothing is stored in these tests)."""

    def submit(self, write: Callable[[], Awaitable[None]]) -> None:
        return None


@dataclass
class FakeModeration:
    """Answers image-report checks from ``outcome``; records bans for reports."""

    outcome: str = "clean"
    checks: list[tuple[Person, str]] = field(default_factory=list)
    bans: list[tuple[Person, str]] = field(default_factory=list)

    async def check_reported(self, subject: Person, match_id: str, reporter: str = "") -> Any:
        self.checks.append((subject, match_id))
        return self.outcome

    async def ban_for_reports(
        self,
        subject: Person,
        match_id: str | None,
        messages: list[str],
        reason: str,
        duration_s: float,
    ) -> None:
        self.bans.append((subject, reason))


@dataclass
class Room:
    lobby: Lobby
    clock: FakeClock
    sink: MemoryReportSink
    moderation: FakeModeration
    desk: ReportDesk

    def connect(
        self, ip: str = "10.0.0.1", session: str | None = None, device: str | None = None
    ) -> Visitor:
        n = len(self.lobby.visitors) + 1
        return self.lobby.connect(
            ip, session=session or f"s_{id(self)}_{n}_{self.clock.now}", device=device
        )

    async def send(self, visitor: Visitor, message: dict[str, Any] | str) -> None:
        """What ``/ws`` does with one frame: parse (refusing what is malformed), handle."""
        raw = message if isinstance(message, str) else json.dumps(message)
        try:
            parsed: ClientMessage = parse_client_message(raw)
        except ProtocolError as exc:
            self.lobby.refuse(visitor, exc.code, exc.message)
            return
        await self.lobby.handle(visitor, parsed)


def events(visitor: Visitor) -> list[dict[str, Any]]:
    """Drain the visitor's outbox: the events it would have received."""
    out = []
    while not visitor.outbox.empty():
        item = visitor.outbox.get_nowait()
        if item is not None:
            out.append(json.loads(item))
    return out


def kinds(visitor: Visitor) -> list[str]:
    return [e["type"] for e in events(visitor)]


def make_room(**overrides: Any) -> Room:
    """A lobby with the door's per-visitor limits, blocks and reports (text mode only:
    the router is never used)."""
    settings = Settings(**{"moderation": {"enabled": False}, **overrides})
    clock = FakeClock()
    router = Router(settings.sfu)
    limits = RateLimits(settings.limits)
    lm = settings.limits
    backoff = ChatBackoff(
        lm.chat_timeout_s, lm.chat_timeout_max_s, lm.chat_violations_to_disconnect, clock
    )
    pace = Pace(limits, backoff, lambda ip, device: None)
    sink, moderation = MemoryReportSink(), FakeModeration()
    desk = ReportDesk(settings.reports, sink, moderation, clock)
    lobby = Lobby(
        settings,
        router,
        NullMatches(),  # type: ignore[arg-type]
        InlineWriter(),  # type: ignore[arg-type]
        clock=clock,
        pace=pace,
        reports=lambda lobby: desk,
    )
    return Room(lobby, clock, sink, moderation, desk)


async def settle() -> None:
    """Let background tasks (report checks) run."""
    for _ in range(5):
        await asyncio.sleep(0)
