"""Automatic actions and their sampling for QA: what the machine decided alone (a video
ban, a ban for chat strikes or verbal reports, a hold) as a stratum, and the
:class:`Sampler` that picks which of them reviewers check (see :mod:`signaling.storage.qa`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moderation.records import BanRecord, EvidenceRecord, ReviewItem

UNSPECIFIED = "unspecified"
_NOT_WORD = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class AutomaticAction:
    """One action the machine took alone. ``kind``: ``ban`` or ``hold``; ``source``,
    ``classifier`` and ``reason`` name its stratum (short, stable words: no scores or
    counts in them); ``ref`` is the ban's or hold's id."""

    kind: str
    source: str
    classifier: str
    reason: str
    ref: str
    visitor: str
    created_at: datetime
    score: float | None = None
    evidence_id: str | None = None
    ip: str | None = None
    match: str | None = None

    @property
    def stratum(self) -> tuple[str, str, str, str]:
        return (self.kind, self.source, self.classifier, self.reason)


class Sampler:
    """Decides whether an action becomes a QA item. ``rng`` is injected (seeded in
    tests, so a run is deterministic; ``random.SystemRandom()`` in a node)."""

    def __init__(
        self, rate: float, minimum: int, window_s: float, rng: random.Random | None = None
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the QA sample rate is a share, from 0 to 1")
        self.rate = rate
        self.minimum = minimum
        self.window = timedelta(seconds=window_s)
        self.rng = rng or random.SystemRandom()

    def draw(self, earlier_in_window: int) -> bool:
        """Sample an action whose stratum had ``earlier_in_window`` actions before it."""
        if earlier_in_window < self.minimum:
            return True
        return self.rng.random() < self.rate


def word(text: str, fallback: str = UNSPECIFIED) -> str:
    """A stratum word from free text: lower case, ``[a-z0-9_]`` runs joined by ``_``,
    digits-only runs dropped (scores, counts), at most 64 characters."""
    parts = [p for p in _NOT_WORD.split(text.lower()) if p and not p.isdigit()]
    return "_".join(parts)[:64] or fallback


def action_of_ban(ban: BanRecord, evidence: EvidenceRecord | None) -> AutomaticAction:
    """The stratum of an automatic ban, from its source and evidence.

    * ``video``: the classifier is the verdict's ``source``; the reason is the label of the
      highest-scoring box that is not a face (else the verdict's reason); the score is the
      verdict's.
    * ``text`` (chat strikes): classifier ``chat_strikes``, reason ``strikes``.
    * ``report`` (verbal reports agreeing): classifier ``verbal_reports``, reason
      ``reported``.
    * anything else: classifier = source, reason from the ban's reason.
    """
    classifier, reason, score = ban.source, word(ban.reason), None
    if ban.source == "text":
        classifier, reason = "chat_strikes", "strikes"
    elif ban.source == "report":
        classifier, reason = "verbal_reports", "reported"
    if evidence is not None and evidence.kind == "frame":
        verdict, classifier, score = _frame_verdict(evidence, ban.source)
        boxes = [
            b
            for b in verdict.get("boxes", [])
            if isinstance(b, dict) and not str(b.get("label", "")).upper().startswith("FACE")
        ]
        if boxes:
            top = max(boxes, key=lambda b: float(b.get("score", 0.0)))
            reason = str(top.get("label", "")).lower()[:64] or reason
        else:
            reason = word(str(verdict.get("reason") or ""), reason)
    return AutomaticAction(
        kind="ban",
        source=ban.source,
        classifier=classifier,
        reason=reason,
        ref=ban.id,
        visitor=ban.visitor,
        created_at=ban.created_at,
        score=score,
        evidence_id=ban.evidence_id,
        ip=ban.ip,
        match=None if evidence is None else evidence.match,
    )


def _frame_verdict(
    evidence: EvidenceRecord, fallback: str
) -> tuple[dict[str, Any], str, float | None]:
    """A frame's stored verdict, its classifier as a stratum word (``fallback`` when the
    verdict names none) and its score (``None`` when absent or not a number)."""
    verdict: dict[str, Any] = evidence.details.get("verdict", {})
    raw_score = verdict.get("score")
    score = float(raw_score) if isinstance(raw_score, int | float) else None
    return verdict, word(str(verdict.get("source") or ""), fallback), score


def action_of_hold(review: ReviewItem, evidence: EvidenceRecord | None) -> AutomaticAction:
    """The stratum of an automatic hold (a possible minor in explicit video): kind
    ``hold``, source ``video``, the classifier and score of the frame's verdict as for a
    video ban, the reason from the review item's."""
    classifier, reason, score = "video", word(review.reason), None
    if evidence is not None and evidence.kind == "frame":
        _, classifier, score = _frame_verdict(evidence, classifier)
    return AutomaticAction(
        kind="hold",
        source="video",
        classifier=classifier,
        reason=reason,
        ref=review.id,
        visitor=review.visitor,
        created_at=review.created_at,
        score=score,
        evidence_id=review.evidence_id,
        ip=review.ip,
        match=review.match,
    )
