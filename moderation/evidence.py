"""Evidence files: written atomically, hashed, never served publicly.

Layout under ``moderation.evidence_dir``: ``YYYY-MM-DD/<id>.jpg`` (the sampled frame),
``<id>.blur.jpg`` (a blurred copy reviewers see by default), optionally ``<id>.webm``
(the last seconds of the visitor's video as the SFU received it, ``evidence_clip_s``;
named with its SHA-256 in the record's ``details["clip"]``), ``<id>.json`` (verdict,
scores, boxes, visitor, match, time, SHA-256) and, for chat, ``<id>.txt``. Each file is
written to a temporary name in the same directory, flushed, fsynced and renamed, and the
directory is fsynced, so a crash leaves either the whole file or nothing. Encoding and
writing run in a thread: the event loop never blocks on the disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from moderation.clock import SYSTEM_CLOCK
from moderation.records import EvidenceRecord
from moderation.verdict import Verdict

JPEG_QUALITY = 90


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blurred(frame: np.ndarray[Any, np.dtype[np.uint8]]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A strongly blurred copy: enough to triage, not to see detail."""
    height, width = frame.shape[:2]
    kernel = max(3, (max(height, width) // 12) | 1)
    return np.asarray(cv2.GaussianBlur(frame, (kernel, kernel), 0), dtype=np.uint8)


class EvidenceWriter:
    """Writes evidence files under ``directory`` and returns their records."""

    def __init__(self, directory: Path, now: Callable[[], datetime] = SYSTEM_CLOCK.wall) -> None:
        """``now``: the injected wall clock (:meth:`moderation.clock.Clock.wall`)."""
        self.directory = directory
        self.now = now
        self.written = 0
        self.purged = 0

    async def frame(
        self,
        visitor: str,
        match: str | None,
        frame: np.ndarray[Any, np.dtype[np.uint8]],
        verdict: Verdict,
        reason: str,
        clip: bytes | None = None,
    ) -> EvidenceRecord:
        """Store a sampled BGR frame, its blurred copy, the verdict and, if given, a WebM
        ``clip`` of the visitor's last seconds of video."""
        return await asyncio.to_thread(self._frame, visitor, match, frame, verdict, reason, clip)

    async def text(
        self, visitor: str, match: str | None, messages: Sequence[str], reason: str
    ) -> EvidenceRecord:
        """Store flagged chat messages."""
        return await asyncio.to_thread(self._text, visitor, match, list(messages), reason)

    async def delete(self, records: Sequence[EvidenceRecord]) -> None:
        """Remove the files of ``records`` (retention, overturned appeals)."""
        await asyncio.to_thread(self._delete, list(records))

    def _frame(
        self,
        visitor: str,
        match: str | None,
        frame: np.ndarray[Any, np.dtype[np.uint8]],
        verdict: Verdict,
        reason: str,
        clip: bytes | None = None,
    ) -> EvidenceRecord:
        evidence_id, created, folder = self._new()
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        ok_blur, jpeg_blur = cv2.imencode(".jpg", blurred(frame), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not (ok and ok_blur):
            raise ValueError("could not encode the evidence frame as JPEG")
        image, blur = folder / f"{evidence_id}.jpg", folder / f"{evidence_id}.blur.jpg"
        data = jpeg.tobytes()
        write_atomically(image, data)
        write_atomically(blur, jpeg_blur.tobytes())
        details: dict[str, Any] = {"verdict": verdict.to_dict(), "shape": list(frame.shape)}
        if clip:
            video = folder / f"{evidence_id}.webm"
            write_atomically(video, clip)
            details["clip"] = {
                "path": str(video.relative_to(self.directory)),
                "sha256": hashlib.sha256(clip).hexdigest(),
                "bytes": len(clip),
            }
        record = EvidenceRecord(
            id=evidence_id,
            kind="frame",
            visitor=visitor,
            match=match,
            created_at=created,
            path=str(image.relative_to(self.directory)),
            sha256=hashlib.sha256(data).hexdigest(),
            blurred_path=str(blur.relative_to(self.directory)),
            reason=reason,
            details=details,
        )
        self._sidecar(folder / f"{evidence_id}.json", record)
        return record

    def _text(
        self, visitor: str, match: str | None, messages: list[str], reason: str
    ) -> EvidenceRecord:
        evidence_id, created, folder = self._new()
        path = folder / f"{evidence_id}.txt"
        data = "\n".join(messages).encode()
        write_atomically(path, data)
        record = EvidenceRecord(
            id=evidence_id,
            kind="text",
            visitor=visitor,
            match=match,
            created_at=created,
            path=str(path.relative_to(self.directory)),
            sha256=hashlib.sha256(data).hexdigest(),
            blurred_path=None,
            reason=reason,
            details={"messages": messages},
        )
        self._sidecar(folder / f"{evidence_id}.json", record)
        return record

    def _new(self) -> tuple[str, datetime, Path]:
        created = self.now()
        evidence_id = "e_" + secrets.token_hex(10)
        return evidence_id, created, self.directory / created.strftime("%Y-%m-%d")

    def _sidecar(self, path: Path, record: EvidenceRecord) -> None:
        body = {
            "id": record.id,
            "kind": record.kind,
            "visitor": record.visitor,
            "match": record.match,
            "created_at": record.created_at.isoformat(),
            "path": record.path,
            "sha256": record.sha256,
            "blurred_path": record.blurred_path,
            "reason": record.reason,
            "details": record.details,
        }
        write_atomically(path, json.dumps(body, indent=1, sort_keys=True).encode())
        self.written += 1

    def _delete(self, records: list[EvidenceRecord]) -> None:
        for record in records:
            names = [record.path, record.blurred_path, str(Path(record.path).with_suffix(".json"))]
            clip = record.details.get("clip")
            if isinstance(clip, dict) and isinstance(clip.get("path"), str):
                names.append(clip["path"])
            for name in names:
                if name:
                    (self.directory / name).unlink(missing_ok=True)
            self.purged += 1
