"""The room's reports land in the console's store: filed through the ``ReportSink``
methods, resolved by moderation's automatic check (audited as ``system:moderation``), their
attached chat purged by retention once decided, and listed for reviewers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from signaling.storage.reports import Filing, ReportStore
from tests.support.console import ConsoleApp, console_app


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleApp]:
    async with console_app(tmp_path) as app:
        yield app


def _filing(reported: str = "v_b", reason: str = "harassment") -> Filing:
    return Filing(
        reporter_visitor="v_a",
        reporter_ip="198.51.100.1",
        reported_visitor=reported,
        reported_ip="203.0.113.2",
        reason=reason,  # type: ignore[arg-type]
        match="m_1",
        comment="rude",
        transcript=[("reported", "you are an idiot"), ("reporter", "bye")],
        reporter_session="s_a",
        reported_session="s_b",
        reported_device="d_b",
    )


async def test_the_room_files_into_the_console_store(console: ConsoleApp) -> None:
    desk = console.services.reports
    assert isinstance(desk.sink, ReportStore)  # wired by the composition root
    store = console.services.console.reports
    report_id = await store.file_report(_filing())
    report = await store.get(report_id)
    assert report is not None and report.status == "open" and report.priority == "normal"
    assert report.reported_session == "s_b" and report.reported_device == "d_b"
    assert report.transcript[0] == {"from": "reported", "text": "you are an idiot"}
    image = await store.get(await store.file_report(_filing(reason="minor")))
    assert image is not None and image.priority == "high"
    mo = await console.login("mo")
    queue = (await console.client.get("/api/admin/queue", headers=mo.headers())).json()
    assert [i["id"] for i in queue["items"]] == [image.id, report_id]  # HIGH first


async def test_automatic_resolutions_are_audited_and_never_override_a_reviewer(
    console: ConsoleApp,
) -> None:
    store = console.services.console.reports
    dismissed = await store.file_report(_filing())
    await store.resolve(dismissed, "dismissed", "the model saw nothing: dropped")
    report = await store.get(dismissed)
    assert report is not None and report.status == "dismissed"
    assert report.decided_by == "system:moderation"
    entries = await console.services.console.audit.recent(5)
    assert (entries[0].actor, entries[0].action) == ("system:moderation", "report.dismissed")
    # Decided already (here: by the model); a later automatic verdict changes nothing.
    await store.resolve(dismissed, "actioned", "late")
    report = await store.get(dismissed)
    assert report is not None and report.status == "dismissed"
    assert (await console.services.console.audit.recent(1))[0].seq == entries[0].seq


async def test_retention_purges_chat_of_decided_reports_only(console: ConsoleApp) -> None:
    store = console.services.console.reports
    decided = await store.file_report(_filing())
    undecided = await store.file_report(_filing(reported="v_c"))
    await store.resolve(decided, "actioned", "banned by the model")
    later = datetime.now(UTC) + timedelta(days=2)
    assert await store.purge_transcripts(later) == 1
    gone, kept = await store.get(decided), await store.get(undecided)
    assert gone is not None and gone.transcript == []
    assert kept is not None and len(kept.transcript) == 2
    assert await store.purge_transcripts(later) == 0  # nothing left to purge
    entry = (await console.services.console.audit.recent(1))[0]
    assert entry.action == "report.transcripts_purged" and entry.details["reports"] == [decided]
