"""What moderation needs from the rest of Duet, as small protocols.

The composition root (``signaling.service.services``) adapts the SFU's frame tap to
:class:`FrameSource` and the lobby to :class:`Enforcer`; moderation imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from duet.person import Person
from moderation.frames import BgrFrame
from moderation.records import BanRecord, ReviewItem
from moderation.verdict import Verdict


class FrameSource(Protocol):
    async def grab(self, visitor: str, timeout: float, max_side: int) -> BgrFrame | None:
        """One decoded BGR frame of ``visitor``'s own inbound video, or ``None``."""
        ...


class FrameChecker(Protocol):
    async def classify(self, frame: BgrFrame) -> Verdict:
        """A verdict, or :class:`~moderation.errors.CheckFailed` /
        :class:`~moderation.errors.NoWorker`."""
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
    subjects: tuple[Person, ...]
    """The visitors of the match whose media this node holds (one or two)."""


VideoState = Literal["checking", "open", "face_required"]
"""Where a visitor's pre-screened video to its partner stands: being checked, forwarded,
or held until a face is seen (``moderation.require_face``)."""


@dataclass(frozen=True)
class Screened:
    """The keyframe a pre-screen judges: its picture, and its name in the SFU (the source
    timestamp) so that the very same frame is the first one forwarded."""

    frame: BgrFrame
    keyframe: int | None


class VideoGate(Protocol):
    """The outbound gate of the SFU, as the composition root adapts it (``moderation
    .prescreen``): a visitor's video to a new partner is held until released."""

    async def screen(self, visitor: str, timeout: float, max_side: int) -> Screened | None:
        """A fresh keyframe of ``visitor``'s own video, decoded, or ``None``."""
        ...

    def release(self, visitor: str, match_id: str, keyframe: int | None) -> None:
        """Open ``visitor``'s video to its partner in ``match_id`` (no-op if that match is
        over), starting with ``keyframe`` where the SFU still holds it."""
        ...

    def tell(self, visitor: str, match_id: str, state: VideoState) -> None:
        """Tell ``visitor`` (its own video) and its partner (the partner's video) where
        ``visitor``'s video stands. The partner never learns why it is held."""
        ...


class ClipSource(Protocol):
    async def clip(self, visitor: str) -> bytes | None:
        """The last seconds of ``visitor``'s own video as WebM, or ``None``."""
        ...
