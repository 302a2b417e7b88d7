"""The reviewer console's long-lived objects, built once by the composition root.

:meth:`Console.build` wires the stores (one shared :class:`AuditLog`), sessions, login
throttle, queue, casefiles, decisions and dashboard. Endpoints reach it through
:func:`console_of`. Nothing here runs at import time.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from starlette.requests import HTTPConnection

from duet.clock import SYSTEM_CLOCK
from moderation import Moderation
from moderation.records import BanRecord
from moderation.settings import ModerationSettings
from sfu.plane import MediaPlane
from signaling.config.console import AdminSettings
from signaling.console.banning import Banning
from signaling.console.casefile import Casefiles
from signaling.console.dashboard import Dashboard
from signaling.console.decisions import Decisions
from signaling.console.passwords import Passwords
from signaling.console.precision import Precision
from signaling.console.queue import ReviewQueue
from signaling.console.sessions import ReviewerSessions
from signaling.console.throttle import LoginThrottle
from signaling.door.appeals import Appeals
from signaling.room.enforcement import LobbyEnforcer
from signaling.room.lobby import Lobby
from signaling.storage.accounts import AccountStore, ReviewerSessionStore
from signaling.storage.appeals import AppealStore
from signaling.storage.audit import AuditLog
from signaling.storage.bans import BanStore
from signaling.storage.claims import ClaimStore
from signaling.storage.dashboard import DashboardStore
from signaling.storage.db import Database
from signaling.storage.qa import QaStore
from signaling.storage.qa_actions import Sampler
from signaling.storage.reports import ReportStore
from signaling.storage.reviews import ReviewStore


@dataclass
class Console:
    settings: AdminSettings
    audit: AuditLog
    accounts: AccountStore
    sessions: ReviewerSessions
    passwords: Passwords
    throttle: LoginThrottle
    queue: ReviewQueue
    casefiles: Casefiles
    decisions: Decisions
    banning: Banning
    dashboard: Dashboard
    reports: ReportStore
    appeals: AppealStore
    bans: BanStore
    lobby: Lobby
    evidence_dir: Path
    now: Callable[[], datetime]
    qa: QaStore
    precision: Precision

    @classmethod
    def build(
        cls,
        settings: AdminSettings,
        secret: bytes | Sequence[bytes],
        db: Database,
        audit: AuditLog,
        appeals: Appeals,
        reports: ReportStore,
        enforcer: LobbyEnforcer,
        moderation: Moderation,
        media: MediaPlane,
        forget_ban: Callable[[BanRecord], Awaitable[None]] | None = None,
        now: Callable[[], datetime] = SYSTEM_CLOCK.wall,
        monotonic: Callable[[], float] = SYSTEM_CLOCK.now,
        qa: QaStore | None = None,
    ) -> Console:
        """``enforcer`` removes banned visitors (the one moderation uses); ``forget_ban``
        drops a lifted ban from the shared ban cache (several nodes); ``qa``: the store
        moderation records automatic actions in (one is made from the settings if not).
        ``now`` and ``monotonic``: the node's clock (:class:`duet.clock.Clock` wall, now)."""
        lobby = enforcer.lobby
        ms = moderation.settings
        if qa is None:
            qa = QaStore(db, audit, sampler_of(ms.qa_sample_rate, ms))
        reviews, bans = ReviewStore(db), BanStore(db)
        appeal_store = appeals.appeals
        queue = ReviewQueue(
            reviews, reports, appeal_store, bans, ClaimStore(db), settings.claim_lease_s, now, qa
        )
        banning = Banning(audit, bans, enforcer, ms.ban_duration_s, now, forget_ban)
        decisions = Decisions(
            audit,
            queue,
            reviews,
            reports,
            appeal_store,
            bans,
            moderation.evidence,
            banning,
            now,
            qa,
        )
        precision = Precision(qa, ms.qa_precision_days, now)
        throttle = LoginThrottle(
            settings.login_failures_per_name,
            settings.login_failures_per_ip,
            settings.login_window_s,
            settings.lockout_s,
            monotonic,
        )
        return cls(
            settings=settings,
            audit=audit,
            accounts=AccountStore(db),
            sessions=ReviewerSessions(settings, ReviewerSessionStore(db), secret, now),
            passwords=Passwords(),
            throttle=throttle,
            queue=queue,
            casefiles=Casefiles(reviews, reports, appeal_store, bans, qa),
            decisions=decisions,
            banning=banning,
            dashboard=Dashboard(
                DashboardStore(db), queue, lobby, moderation, media, now, precision
            ),
            reports=reports,
            appeals=appeal_store,
            bans=bans,
            lobby=lobby,
            evidence_dir=ms.evidence_dir,
            now=now,
            qa=qa,
            precision=precision,
        )


def sampler_of(rate: float, settings: ModerationSettings, seed: int | None = None) -> Sampler:
    """The QA sampler of ``moderation`` settings (``seed``: a deterministic one, tests)."""
    rng = random.SystemRandom() if seed is None else random.Random(seed)
    window_s = settings.qa_stratum_window_days * 86_400.0
    return Sampler(rate, settings.qa_stratum_minimum, window_s, rng)


def console_of(connection: HTTPConnection) -> Console:
    console: Console = connection.app.state.services.console
    return console
