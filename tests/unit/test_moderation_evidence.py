"""Evidence files: atomic writes, hashes, blurred copies, retention."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from moderation.evidence import EvidenceWriter, write_atomically
from moderation.verdict import BadVerdict, Box, Verdict, coerce_verdict


def _files(directory: Path, pattern: str) -> list[Path]:
    return list(directory.rglob(pattern))


VERDICT = Verdict(True, False, 0.9, "test", "fake", (Box("X", 0.9, 1, 2, 3, 4),), 0)


async def test_frame_evidence_is_hashed_blurred_and_described(tmp_path: Path) -> None:
    writer = EvidenceWriter(tmp_path, now=lambda: datetime(2026, 11, 21, tzinfo=UTC))
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    frame[::2, ::2] = 255  # fine detail that a blur removes
    record = await writer.frame("v_1", "m_1", frame, VERDICT, "why")
    image = tmp_path / record.path
    assert record.path.startswith("2026-11-21/")
    assert hashlib.sha256(image.read_bytes()).hexdigest() == record.sha256
    blurred = tmp_path / (record.blurred_path or "")
    assert blurred.stat().st_size < image.stat().st_size
    sidecar = json.loads(image.with_suffix(".json").read_text())
    assert sidecar["sha256"] == record.sha256 and sidecar["match"] == "m_1"
    assert sidecar["details"]["verdict"]["boxes"][0]["label"] == "X"
    assert not _files(tmp_path, "*.tmp")
    await writer.delete([record])
    assert not _files(tmp_path, "e_*")


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file.bin"
    write_atomically(target, b"one")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"one"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


async def test_retention_purges_old_evidence(tmp_path: Path) -> None:
    from moderation import MemoryStore, Moderation, ModerationSettings

    store = MemoryStore()

    class Nothing:
        async def grab(self, visitor: str, timeout: float, max_side: int) -> None:
            return None

        async def classify(self, frame: object) -> Verdict:
            return VERDICT

        async def enforce(self, ban: object) -> None:
            return None

    fake = Nothing()
    moderation = Moderation(
        ModerationSettings(evidence_dir=tmp_path),
        fake,
        fake,
        store,
        checker=fake,  # type: ignore[arg-type]
    )
    old = datetime.now(UTC) - timedelta(days=100)
    moderation.evidence.now = lambda: old
    record = await moderation.evidence.text("v", None, ["x"], "old")
    await store.save(record)
    moderation.evidence.now = lambda: datetime.now(UTC)
    fresh = await moderation.evidence.text("v", None, ["y"], "new")
    await store.save(fresh)
    assert moderation.video is not None
    assert await moderation.video.purge(datetime.now(UTC) - timedelta(days=90)) == 1
    assert set(store.evidence_records) == {fresh.id}
    assert not (tmp_path / record.path).exists() and (tmp_path / fresh.path).exists()


def test_plugged_in_classifiers_may_return_mappings() -> None:
    verdict = coerce_verdict(
        {
            "unsafe": True,
            "score": 0.5,
            "boxes": [{"label": "a", "score": 1, "x": 0, "y": 0, "w": 1, "h": 1}],
        }
    )
    assert verdict.unsafe and verdict.boxes[0].label == "a" and verdict.source == "custom"
    with pytest.raises(BadVerdict):
        coerce_verdict({"score": 0.5})
    with pytest.raises(BadVerdict):
        coerce_verdict({"unsafe": True, "score": 7})
    with pytest.raises(BadVerdict):
        coerce_verdict("unsafe")
