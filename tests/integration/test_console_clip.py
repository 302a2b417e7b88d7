"""Evidence clips in the reviewer console: served to reviewers only, never cached, every
load audited (the console blurs them with CSS, so a load is a view), deleted with the
evidence when a case is overturned."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from moderation.records import ReviewItem
from sfu.clip import mux_webm
from tests.integration.test_console_casework import SUBJECT, _decide, _open
from tests.support.console import ConsoleApp, console_app
from tests.unit.test_evidence_clip import _encoded
from tests.unit.test_moderator import EXPLICIT


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleApp]:
    async with console_app(tmp_path) as app:
        yield app


async def _item_with_clip(console: ConsoleApp) -> tuple[ReviewItem, bytes]:
    clip = mux_webm(_encoded(30, keyframe_every=30))
    frame = av.open(io.BytesIO(clip)).decode(video=0).__next__().to_ndarray(format="bgr24")
    moderation = console.services.moderation
    evidence = await moderation.evidence.frame(
        SUBJECT.visitor, "m_1", frame, EXPLICIT, "borderline", clip
    )
    item = await moderation.sanctions.review(SUBJECT, "m_1", "normal", "borderline", evidence)
    return item, clip


async def test_clip_is_for_reviewers_audited_and_deleted_with_its_case(
    console: ConsoleApp, tmp_path: Path
) -> None:
    item, clip = await _item_with_clip(console)
    mo = await console.login("mo")
    casefile = (await _open(console, mo, "review", item.id)).json()
    listed = casefile["evidence"]["clip"]
    assert listed["sha256"] == hashlib.sha256(clip).hexdigest() and listed["bytes"] == len(clip)

    assert (await console.client.get(listed["url"])).status_code == 401  # not logged in
    served = await console.client.get(listed["url"], headers=mo.headers())
    assert served.status_code == 200 and served.headers["content-type"] == "video/webm"
    assert served.headers["cache-control"] == "no-store"
    assert hashlib.sha256(served.content).hexdigest() == listed["sha256"]
    with sqlite3.connect(tmp_path / "duet.sqlite3") as db:
        viewed = list(
            db.execute("SELECT actor, details FROM audit_log WHERE action='evidence.viewed'")
        )
    assert len(viewed) == 1 and viewed[0][0] == "reviewer:mo" and "clip" in viewed[0][1]

    path = Path(console.settings.moderation.evidence_dir) / str(
        (await console.services.moderation.store.evidence(item.evidence_id)).details["clip"]["path"]
    )
    assert path.is_file()
    decided = await _decide(console, mo, "review", item.id, "overturn")
    assert decided.status_code == 200, decided.text
    assert not path.exists()
    gone = await console.client.get(listed["url"], headers=mo.headers())
    assert gone.status_code == 404
