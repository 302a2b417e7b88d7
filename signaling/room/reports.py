"""Reports: a signal, never a verdict.

* Image reasons (nudity, minor): the reported visitor's live video is checked at once,
  bypassing its schedule but not moderation's global budget, and the verdict decides:
  high-confidence explicit is enforced, borderline and possible minors go to human review,
  a clean frame quietly dismisses the report. A report that could not be checked (no
  video, moderation off or over budget) stays open for reviewers.
* Verbal reasons (harassment, hate, spam, other): each *distinct* reporter adds weight to
  the reported person within ``reports.verbal_window_s``; only ``verbal_threshold`` of
  them ban. Reporters sharing a session, device or IP are one reporter, so one furious
  stranger can never get anyone banned.

Every report is stored (with the last messages of the match: the only way chat text is
ever stored) through a :class:`ReportSink`. The room calls :meth:`ReportDesk.file`.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from cachetools import TTLCache

from duet.clock import SYSTEM_CLOCK
from duet.person import Person
from duet.tasks import TaskSet
from moderation.shared import SharedWeights
from signaling.config.door import ReportSettings
from signaling.protocol import IMAGE_REASONS
from signaling.storage.reports import Filing

logger = logging.getLogger(__name__)

ReportStatus = Literal["open", "actioned", "dismissed"]
CheckOutcome = Literal["ban", "review", "clean", "unchecked"]


class ReportSink(Protocol):
    """Where reports are stored (the reviewer console's report store, adapted)."""

    async def file_report(self, filing: Filing) -> str:
        """Store the report (status ``open``); returns its id."""
        ...

    async def resolve(self, report_id: str, status: ReportStatus, note: str) -> None:
        """Record what the automatic check decided (``actioned`` or ``dismissed``)."""
        ...


class ReportModeration(Protocol):
    """What the desk asks of moderation (``moderation.Moderation`` provides it)."""

    async def check_reported(
        self, subject: Person, match_id: str, reporter: str = ""
    ) -> CheckOutcome: ...

    async def ban_for_reports(
        self,
        subject: Person,
        match_id: str | None,
        messages: list[str],
        reason: str,
        duration_s: float,
    ) -> None: ...


@dataclass
class StoredReport:
    id: str
    filing: Filing
    created_at: datetime
    status: ReportStatus = "open"
    note: str = ""


@dataclass
class MemoryReportSink:
    """A :class:`ReportSink` in memory (tests; a node without the console's store)."""

    reports: dict[str, StoredReport] = field(default_factory=dict)
    max_reports: int = 10_000
    wall: Callable[[], datetime] = SYSTEM_CLOCK.wall
    """The wall clock reports are dated by (UTC)."""

    async def file_report(self, filing: Filing) -> str:
        report_id = "rp_" + secrets.token_hex(8)
        self.reports[report_id] = StoredReport(report_id, filing, self.wall())
        while len(self.reports) > self.max_reports:
            del self.reports[next(iter(self.reports))]
        return report_id

    async def resolve(self, report_id: str, status: ReportStatus, note: str) -> None:
        report = self.reports.get(report_id)
        if report is not None:
            report.status, report.note = status, note

    async def purge_transcripts(self, before: datetime) -> int:
        """Drop the attached chat of reports filed before ``before`` that are no longer
        under review (retention)."""
        purged = 0
        for report in self.reports.values():
            if report.created_at < before and report.status != "open" and report.filing.transcript:
                report.filing = replace(report.filing, transcript=())
                purged += 1
        return purged


Reporter = tuple[str, ...]
"""A reporter's identifiers (``s:``, ``d:``, ``i:`` keys); two reporters sharing any are one."""


class VerbalWeights:
    """Distinct reporters per reported person within a window (bounded).

    A ``cachetools.TTLCache`` on the injected clock: a person is forgotten ``window_s``
    after the last report about them (every report is then out of the window); beyond
    ``max_targets`` the least recently reported person goes first (expired ones before)."""

    def __init__(
        self, window_s: float, clock: Callable[[], float], max_targets: int = 100_000
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.max_targets = max_targets
        self._reports: TTLCache[str, list[tuple[float, Reporter]]] = TTLCache(
            maxsize=max_targets, ttl=window_s, timer=clock
        )

    def add(self, target: str, reporter: Reporter) -> int:
        """Record a report about ``target``; returns the distinct reporters in the window
        (a reporter who already counted adds nothing)."""
        now = self.clock()
        entries = [e for e in self._reports.pop(target, []) if e[0] > now - self.window_s]
        if not any(set(reporter) & set(earlier) for _, earlier in entries):
            entries.append((now, reporter))
        self._reports[target] = entries  # most recent; kept ``window_s`` from now
        return len(entries)

    def forget(self, target: str) -> None:
        self._reports.pop(target, None)


def network_key(ip: str) -> str:
    """The network an address stands for: an IPv4 address itself (/32), an IPv6 address
    its /64 (one household or phone gets a whole /64 and can hop inside it)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def reporter_keys(session: str | None, device: str | None, ip: str) -> Reporter:
    """Two reporters are distinct only if session, device and network all differ."""
    keys = ["n:" + network_key(ip)]
    if session:
        keys.append("s:" + session)
    if device:
        keys.append("d:" + device)
    return tuple(keys)


def target_key(subject: Person) -> str:
    """Who a verbal report is about: the session (else the device, else the visitor)."""
    if subject.session:
        return "s:" + subject.session
    if subject.device:
        return "d:" + subject.device
    return "v:" + subject.visitor


class ReportDesk:
    def __init__(
        self,
        settings: ReportSettings,
        sink: ReportSink,
        moderation: ReportModeration | None,
        clock: Callable[[], float],
        live_video: Callable[[str], bool] | None = None,
        shared_weights: SharedWeights | None = None,
    ) -> None:
        """``live_video``: whether a visitor of this node sends live video now; image
        reports about anyone else are never checked (no model call, no budget spent):
        reviewers see them. ``None``: assume so. ``shared_weights``: with ``redis_url``,
        the verbal-report weights of all nodes."""
        self.settings = settings
        self.sink = sink
        self.moderation = moderation
        self.weights = VerbalWeights(settings.verbal_window_s, clock)
        self.outcomes: dict[str, int] = {}
        """Reports by ``reason:outcome`` (for metrics)."""
        self.shared_weights = shared_weights
        self.live_video = live_video
        self._tasks = TaskSet()

    async def file(self, filing: Filing, reporter: Person, reported: Person) -> str:
        """Store the report, then act on it in the background; returns its id."""
        report_id = await self.sink.file_report(filing)
        if filing.reason in IMAGE_REASONS:
            self._spawn(self._check(report_id, filing, reporter, reported))
        else:
            await self._weigh(report_id, filing, reporter, reported)
        return report_id

    async def _check(
        self, report_id: str, filing: Filing, reporter: Person, reported: Person
    ) -> None:
        outcome: CheckOutcome = "unchecked"
        live = self.live_video is None or self.live_video(reported.visitor)
        if self.moderation is not None and filing.match is not None and live:
            try:
                outcome = await self.moderation.check_reported(
                    reported, filing.match, reporter.session or reporter.visitor
                )
            except Exception:
                logger.exception("the check for report %s failed", report_id)
        self._count(filing.reason, outcome)
        if outcome == "ban":
            await self.sink.resolve(report_id, "actioned", "the model confirmed it: banned")
        elif outcome == "clean":
            await self.sink.resolve(report_id, "dismissed", "the model saw nothing: dropped")
        # review: the moderation review item carries the frame; unchecked: reviewers decide.
        logger.info("report %s (%s): check %s", report_id, filing.reason, outcome)

    async def _weigh(
        self, report_id: str, filing: Filing, reporter: Person, reported: Person
    ) -> None:
        target = target_key(reported)
        if filing.matched_s is not None and filing.matched_s < self.settings.verbal_min_match_s:
            self._count(filing.reason, "too_brief")  # stored for reviewers, no weight
            return
        keys = reporter_keys(reporter.session, reporter.device, reporter.ip)
        shared = self.shared_weights
        count = self.weights.add(target, keys) if shared is None else await shared.add(target, keys)
        threshold = self.settings.verbal_threshold
        if count < threshold or self.moderation is None:
            self._count(filing.reason, "weighed")
            return
        self.weights.forget(target)
        if shared is not None:
            await shared.forget(target)
        self._count(filing.reason, "ban")
        reason = f"reported by {count} people within {self.settings.verbal_window_s:g} s"
        # The whole transcript (both sides, labelled) is the evidence a reviewer reads.
        messages = [f"{sender}: {text}" for sender, text in filing.transcript]
        await self.moderation.ban_for_reports(
            reported, filing.match, messages, reason, self.settings.ban_duration_s
        )
        await self.sink.resolve(report_id, "actioned", reason)

    def _count(self, reason: str, outcome: str) -> None:
        key = f"{reason}:{outcome}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(coro)

    async def close(self) -> None:
        self._tasks.cancel()
        await self._tasks.wait()

    async def drain(self) -> None:
        """Wait for the checks in flight (tests)."""
        await self._tasks.wait()
