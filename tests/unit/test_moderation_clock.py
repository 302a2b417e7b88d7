"""One clock in ``moderation``: only ``moderation/clock.py`` reads the system clock, and a
fake clock drives wall-time rules (ban expiry, evidence retention) without sleeping."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import moderation
from duet.person import Person
from moderation import MemoryStore, Moderation, ModerationSettings, Verdict
from moderation.clock import FakeClock
from moderation.records import BanRecord, ReviewItem

PACKAGE = Path(moderation.__file__).parent
ALLOWED = {"clock.py"}
"""The clock module is the one place that reads the system clock."""


def system_clock_reads(source: str) -> list[str]:
    """Direct reads of the system clock (and real sleeps) in ``source``, as ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import time" for a in node.names if a.name == "time"]
        elif isinstance(node, ast.ImportFrom):
            if node.module == "time":
                found.append(f"{line}: from time import ...")
            if node.module == "asyncio" and any(a.name == "sleep" for a in node.names):
                found.append(f"{line}: from asyncio import sleep")
        elif isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id == "asyncio" and node.attr == "sleep":
                found.append(f"{line}: asyncio.sleep")
            if (
                isinstance(owner, ast.Name)
                and owner.id in ("datetime", "date")
                and node.attr in ("now", "utcnow", "today")
            ):
                found.append(f"{line}: {owner.id}.{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "time"
            and _is_event_loop(node.func.value)
        ):
            found.append(f"{line}: loop.time()")
    return found


def _is_event_loop(node: ast.expr) -> bool:
    """``loop``, ``self._loop``, ``asyncio.get_running_loop()``: an event loop's clock
    (``redis.time()`` is Redis's clock, shared by all nodes on purpose, and allowed)."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "loop" in name


def test_the_tripwire_sees_each_kind_of_read() -> None:
    planted = (
        "import time\n"
        "from time import monotonic\n"
        "from asyncio import sleep\n"
        "import asyncio\n"
        "from datetime import datetime, date\n"
        "async def f(loop):\n"
        "    datetime.now()\n"
        "    date.today()\n"
        "    loop.time()\n"
        "    asyncio.get_running_loop().time()\n"
        "    await asyncio.sleep(1)\n"
    )
    assert len(system_clock_reads(planted)) == 8
    allowed = "async def f(clock, redis):\n    return clock.now(), clock.wall(), redis.time()\n"
    assert system_clock_reads(allowed) == []


def test_only_the_clock_module_reads_the_system_clock() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): reads
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in ALLOWED
        and (reads := system_clock_reads(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, (
        "read time from the injected moderation.clock.Clock (now, wall, sleep), "
        f"not the system clock: {offenders}"
    )


# --- behaviour on a fake clock ----------------------------------------------------------

EXPLICIT = Verdict(unsafe=True, minor=False, score=0.95, reason="explicit", source="fake")
A, B = Person("v_a", "10.0.0.1"), Person("v_b", "10.0.0.2")
START = datetime(2030, 1, 1, tzinfo=UTC)


class Frames:
    async def grab(self, visitor: str, timeout: float, max_side: int) -> Any:
        return np.full((48, 64, 3), 100, dtype=np.uint8)


class Explicit:
    async def classify(self, frame: Any) -> Verdict:
        return EXPLICIT


class Enforcer:
    def __init__(self) -> None:
        self.bans: list[BanRecord] = []

    async def enforce(self, ban: BanRecord) -> None:
        self.bans.append(ban)

    async def hold(self, item: ReviewItem) -> None:
        return None


def build(tmp_path: Path, **overrides: Any) -> tuple[Moderation, FakeClock, Enforcer]:
    settings = ModerationSettings(
        evidence_dir=tmp_path,
        schedule_offsets_s=[1],
        periodic_s=0,
        partner_stagger_s=0.5,
        **overrides,
    )
    clock = FakeClock(wall_start=START)
    enforcer = Enforcer()
    store = MemoryStore()
    built = Moderation(settings, Frames(), enforcer, store, clock=clock, checker=Explicit())
    video = built.video
    assert video is not None
    clock.busy = lambda: video.busy
    return built, clock, enforcer


async def test_a_ban_is_dated_and_expires_on_the_injected_wall_clock(tmp_path: Path) -> None:
    moderation, clock, enforcer = build(tmp_path, ban_duration_s=3600)
    moderation.match_started("m1", A)
    await clock.advance(2)
    moderation.match_ended("m1")
    [ban] = enforcer.bans
    assert ban.created_at == START + timedelta(seconds=1)
    assert ban.until == ban.created_at + timedelta(hours=1)
    assert await moderation.active_ban(A.ip) == ban
    await clock.advance(3600 - 2)
    assert await moderation.active_ban(A.ip) == ban
    await clock.advance(2)
    assert await moderation.active_ban(A.ip) is None
    await moderation.close()


async def test_evidence_retention_runs_hourly_on_the_injected_clock(tmp_path: Path) -> None:
    moderation, clock, _ = build(tmp_path, evidence_retention_days=0.5)
    moderation.start()
    record = await moderation.evidence.text(A.visitor, None, ["hello"], "kept 12 h")
    assert record.created_at == START
    await moderation.store.save(record)
    assert (tmp_path / record.path).exists()
    await clock.advance(11 * 3600 + 60)
    assert (tmp_path / record.path).exists()
    await clock.advance(2 * 3600)
    assert not (tmp_path / record.path).exists()
    await moderation.close()
