"""Duet's moderation: classifiers in worker processes, check schedules, policy, evidence.

moderation never imports signaling or sfu: the composition root hands it a frame source,
an enforcer and a store (:mod:`moderation.ports`, :mod:`moderation.records`).
"""

from duet.person import Person
from moderation.records import BanRecord, EvidenceRecord, MemoryStore, ReviewItem
from moderation.service import Moderation
from moderation.settings import ModerationSettings
from moderation.verdict import Box, Verdict

__all__ = [
    "BanRecord",
    "Box",
    "EvidenceRecord",
    "MemoryStore",
    "Moderation",
    "ModerationSettings",
    "Person",
    "ReviewItem",
    "Verdict",
]
