"""One clock in ``signaling``: no module of the package reads the system clock (time comes
from the injected :class:`duet.clock.Clock`, built once by the composition root), and a
fake clock drives signaling's time-based rules without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import signaling
from duet.clock import FakeClock
from signaling.config.door import RetentionSettings
from signaling.config.settings import Settings
from signaling.room.reports import MemoryReportSink
from signaling.service.retention import RetentionJob
from signaling.service.services import Services
from signaling.storage.reports import Filing
from tests.unit.test_moderation_clock import system_clock_reads

PACKAGE = Path(signaling.__file__).parent
START = datetime(2030, 1, 1, tzinfo=UTC)


def test_no_signaling_module_reads_the_system_clock() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): reads
        for path in sorted(PACKAGE.rglob("*.py"))
        if (reads := system_clock_reads(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, (
        "read time from the injected duet.clock.Clock (now, wall, sleep), "
        f"not the system clock: {offenders}"
    )


async def test_the_composition_root_hands_its_one_clock_to_every_part(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        secret_key="test-secret",
        moderation={"enabled": False, "evidence_dir": str(tmp_path / "evidence")},
    )
    clock = FakeClock(start=50.0, wall_start=START)
    services = Services.build(settings, clock=clock)
    try:
        await clock.advance(90)
        later = START + timedelta(seconds=90)
        assert services.clock is clock
        assert services.lobby.clock() == 140.0 and services.lobby.wall() == later
        assert services.door.wall() == later.timestamp()
        assert services.limits.wall() == later.timestamp()
        assert services.retention.now() == later
        assert services.console.now() == later
        assert services.console.throttle.names.clock() == 140.0
        assert services.moderation.clock is clock
    finally:
        await services.db.close()


async def test_retention_purges_every_interval_on_the_injected_clock() -> None:
    clock = FakeClock(wall_start=START)
    cutoffs: list[datetime] = []

    async def purge(before: datetime) -> int:
        cutoffs.append(before)
        return 0

    job = RetentionJob(
        RetentionSettings(matches_days=30, interval_s=3_600),
        now=clock.wall,
        matches=purge,
        sleep=clock.sleep,
    )
    job.start()
    try:
        await clock.advance(0)
        assert cutoffs == [START - timedelta(days=30)]
        await clock.advance(3_599)
        assert len(cutoffs) == 1
        await clock.advance(1)
        assert cutoffs[-1] == START + timedelta(hours=1) - timedelta(days=30)
        assert len(cutoffs) == 2
    finally:
        await job.close()


async def test_a_report_in_memory_is_dated_by_the_injected_wall_clock() -> None:
    clock = FakeClock(wall_start=START)
    sink = MemoryReportSink(wall=clock.wall)
    await clock.advance(30)
    report_id = await sink.file_report(Filing("v_a", "1.1.1.1", "v_b", "2.2.2.2", "spam"))
    assert sink.reports[report_id].created_at == START + timedelta(seconds=30)
