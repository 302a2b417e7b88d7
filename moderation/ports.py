"""What moderation needs from the rest of Duet, as small protocols.

The composition root (``signaling.services``) adapts the SFU's frame tap to
:class:`FrameSource` and the lobby to :class:`Enforcer`; moderation imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from moderation.classifiers import BgrFrame
from moderation.records import BanRecord, ReviewItem, Subject
from moderation.verdict import Verdict


class FrameSource(Protocol):
    async def grab(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        """One decoded BGR frame of ``visitor``'s own inbound video, or ``None``."""
        ...


class FrameChecker(Protocol):
    async def classify(self, frame: BgrFrame) -> Verdict:
        """A verdict, or :class:`~moderation.workers.CheckFailed` /
        :class:`~moderation.workers.NoWorker`."""
        ...


class Enforcer(Protocol):
    async def enforce(self, ban: BanRecord) -> None:
        """Apply a recorded ban now: stop the visitor's media, tell them (``banned``),
        close their socket, end their match (the partner is re-queued)."""
        ...

    async def hold(self, item: ReviewItem) -> None:
        """Apply a recorded hold now: stop the visitor's media (forwarded to nobody), end
        their match (the partner gets ``partner_left {reason: "ended"}`` and is re-queued),
        tell them (``held``) and keep them out of matching while the hold lasts."""
        ...


@dataclass(frozen=True)
class MatchRef:
    """A video match as moderation sees it."""

    id: str
    subjects: tuple[Subject, ...]
    """The visitors of the match whose media this node holds (one or two)."""
