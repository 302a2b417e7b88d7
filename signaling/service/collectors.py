"""The state collectors of a node's metrics: read at scrape time from the lobby, the
media plane and the door's counters, so they cannot drift from the truth.

Assumes one lobby and one router per process: the gauges are this process's view.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, get_args

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sfu.plane import PlaneSnapshot
from signaling.protocol import Mode
from signaling.room.visitor import Match, Visitor

MODES: tuple[Mode, ...] = get_args(Mode)
NO_MODE = "none"
"""``mode`` label of visitors who are connected but have not joined (or have left)."""

PEER_STATES = ("new", "connecting", "connected", "failed", "closed")
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay", "unknown")


class LobbyState(Protocol):
    """What the collectors read from a :class:`~signaling.room.lobby.Lobby` (tests pass a fake)."""

    @property
    def visitors(self) -> Mapping[str, Visitor]: ...

    def waiting(self, mode: Mode) -> int:
        """Visitors waiting in a queue (every node's, when several share Redis)."""
        ...


class RouterState(Protocol):
    """What :class:`SfuCollector` reads from the media plane (:class:`sfu.plane.MediaPlane`)."""

    def snapshot(self) -> PlaneSnapshot: ...


class LobbyCollector(Collector):
    """Visitors by mode, queue lengths and active matches, read from the lobby per scrape."""

    def __init__(self, lobby: LobbyState) -> None:
        self._lobby = lobby

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(fill=True))

    def _families(self, fill: bool = False) -> Iterator[Metric]:
        connected = GaugeMetricFamily(
            "duet_visitors_connected",
            "Visitors with an open WebSocket, by the mode they joined (none: not joined).",
            labels=["mode"],
        )
        waiting = GaugeMetricFamily(
            "duet_visitors_waiting", "Visitors waiting for a partner, by queue.", labels=["queue"]
        )
        active = GaugeMetricFamily(
            "duet_matches_active", "Matches (calls) in progress, by mode.", labels=["mode"]
        )
        if fill:
            visitors = list(self._lobby.visitors.values())
            by_mode: Tally[str] = Tally(v.mode or NO_MODE for v in visitors)
            matches: dict[int, Match] = {id(v.match): v.match for v in visitors if v.match}
            by_match_mode: Tally[str] = Tally(m.mode for m in matches.values())
            for mode in (*MODES, NO_MODE):
                connected.add_metric([mode], by_mode.get(mode, 0))
            for mode in MODES:
                waiting.add_metric([mode], self._lobby.waiting(mode))
                active.add_metric([mode], by_match_mode.get(mode, 0))
        yield connected
        yield waiting
        yield active


class SfuCollector(Collector):
    """The SFU's peers and media counters, read per scrape from the router and its
    :class:`~sfu.stats.StatsSampler`. The sampler refreshes live peers' counters every
    ``sfu.stats_interval_s``, so forwarded packets and bytes lag by up to that long."""

    def __init__(self, router: RouterState) -> None:
        self._router = router

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(fill=True))

    def _families(self, fill: bool = False) -> Iterator[Metric]:
        peers = GaugeMetricFamily(
            "duet_sfu_peers",
            "SFU peer connections (one per video visitor), by connection state.",
            labels=["state"],
        )
        relay_share = GaugeMetricFamily(
            "duet_sfu_relay_share",
            "Share of connected SFU peers whose selected ICE pair goes through TURN (0-1): "
            "the number that sets the TURN bill and connect speed.",
        )
        candidates = GaugeMetricFamily(
            "duet_sfu_candidates",
            "Live SFU peers by the visitor's side of the selected ICE pair "
            "(host, srflx, prflx, relay; unknown until connected).",
            labels=["type"],
        )
        packets = CounterMetricFamily(
            "duet_sfu_forwarded_packets",
            "RTP packets the SFU sent to visitors (their partners' media), by kind.",
            labels=["kind"],
        )
        payload = CounterMetricFamily(
            "duet_sfu_forwarded_bytes",
            "RTP payload bytes the SFU sent to visitors, by kind.",
            labels=["kind"],
        )
        transport = CounterMetricFamily(
            "duet_sfu_transport_bytes",
            "Bytes on the SFU's ICE transports (SRTP, RTCP, DTLS, STUN), by direction.",
            labels=["direction"],
        )
        keyframes = CounterMetricFamily(
            "duet_sfu_keyframe_requests",
            "Keyframe requests (PLI) the SFU sent to visitors: relayed from partners, after "
            "drops and switches, and for the moderation tap.",
        )
        absorbed = CounterMetricFamily(
            "duet_sfu_keyframe_requests_absorbed",
            "Keyframe requests from visitors the SFU did not relay to their partners: each "
            "asked, because of a switch's sequence gap, for the keyframe that had just "
            "started the new partner's stream (the first such request within 1 s).",
        )
        drops = CounterMetricFamily(
            "duet_sfu_dropped_frames",
            "Frames not forwarded to a visitor (queue overflow, waiting for a keyframe).",
        )
        fast_path = CounterMetricFamily(
            "duet_sfu_fast_path_packets",
            "RTP packets from visitors handled on the packets mode's fast path (in the "
            "datagram callback: synchronous Python, or C for the native ones).",
        )
        native_path = CounterMetricFamily(
            "duet_sfu_native_packets",
            "Of the fast path's packets, those forwarded in C (sfu._native; 0 where the "
            "extension is not built or sfu.native is off).",
        )
        pipe_frames = CounterMetricFamily(
            "duet_sfu_pipe_frames",
            "Frames sent through pipes between SFU processes or nodes (matches that span "
            "them; restarts from 0 when a worker is replaced).",
        )
        worker_peers = GaugeMetricFamily(
            "duet_sfu_worker_peers",
            "Visitors placed on each SFU worker process (none when the SFU runs in-process).",
            labels=["worker"],
        )
        worker_cpu = CounterMetricFamily(
            "duet_sfu_worker_cpu_seconds",
            "CPU time of each SFU worker process (restarts from 0 when a worker is replaced).",
            labels=["worker"],
        )
        worker_rss = GaugeMetricFamily(
            "duet_sfu_worker_resident_memory_bytes",
            "Resident memory of each SFU worker process.",
            labels=["worker"],
        )
        if fill:
            snapshot = self._router.snapshot()
            states = Tally(snapshot.peers_by_state)
            for state in PEER_STATES:
                states.setdefault(state, 0)
            for state, count in sorted(states.items()):
                peers.add_metric([state], count)
            kinds = Tally(snapshot.candidate_types)
            for kind in CANDIDATE_TYPES:
                kinds.setdefault(kind, 0)
            for kind, count in sorted(kinds.items()):
                candidates.add_metric([kind], count)
            known = sum(n for kind, n in kinds.items() if kind != "unknown")
            relay_share.add_metric([], kinds.get("relay", 0) / known if known else 0.0)
            totals = snapshot.totals
            for kind in sorted(totals.packets_sent):
                packets.add_metric([kind], totals.packets_sent[kind])
                payload.add_metric([kind], totals.bytes_sent[kind])
            transport.add_metric(["in"], totals.bytes_in)
            transport.add_metric(["out"], totals.bytes_out)
            keyframes.add_metric([], totals.keyframe_requests)
            absorbed.add_metric([], totals.keyframe_requests_absorbed)
            drops.add_metric([], totals.drops)
            fast_path.add_metric([], totals.fast_packets)
            native_path.add_metric([], totals.native_packets)
            pipe_frames.add_metric([], snapshot.pipe_frames)
            for process in snapshot.processes:
                label = [str(process.index)]
                worker_peers.add_metric(label, process.peers)
                worker_cpu.add_metric(label, process.cpu_seconds)
                worker_rss.add_metric(label, process.rss_bytes)
        yield from (peers, candidates, relay_share, packets, payload, transport, keyframes, drops)
        yield from (absorbed, fast_path, native_path, pipe_frames, worker_peers, worker_cpu)
        yield worker_rss


class DoorCollector(Collector):
    """Sessions, admissions, rate limits, reports, blocks and retention, read per scrape
    from the plain counters of ``signaling.door``, ``signaling.room.reports``,
    ``signaling.room.blocks`` and ``signaling.service.retention``."""

    def __init__(
        self,
        door: Any,
        limits: Any,
        pace: Any,
        reports: Any,
        retention: Any,
        blocks: Any,
    ) -> None:
        self._door, self._limits, self._pace = door, limits, pace
        self._reports, self._retention, self._blocks = reports, retention, blocks

    def describe(self) -> Iterable[Metric]:
        return list(self._families(fill=False))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(fill=True))

    def _families(self, fill: bool) -> Iterator[Metric]:
        sessions = CounterMetricFamily(
            "duet_door_sessions",
            "POST /api/session by outcome (created, underage, refused, rate_limited, "
            "challenge_invalid, challenge_expired, challenge_reused, challenge_too_easy, "
            "bad_request).",
            labels=["outcome"],
        )
        sockets = CounterMetricFamily(
            "duet_door_websockets",
            "/ws connections by admission outcome (admitted, origin_not_allowed, "
            "rate_limited, session_required, session_invalid).",
            labels=["outcome"],
        )
        limited = CounterMetricFamily(
            "duet_rate_limited",
            "Events refused by a rate limit, by limit (http_per_ip, ws_connects_per_ip, "
            "sessions_per_ip, joins, nexts, chat, typing, reports).",
            labels=["limit"],
        )
        flood = CounterMetricFamily(
            "duet_flood_disconnects", "Visitors disconnected for repeated chat violations."
        )
        suspects = GaugeMetricFamily(
            "duet_door_suspects", "IPs and devices currently given the harder challenge."
        )
        marked = CounterMetricFamily(
            "duet_door_suspect_marks", "Times an IP or device was marked as a likely bot."
        )
        reports = CounterMetricFamily(
            "duet_reports",
            "Reports by reason and outcome (image reasons: ban, review, clean, unchecked; "
            "verbal: weighed, ban).",
            labels=["reason", "outcome"],
        )
        blocks = CounterMetricFamily("duet_blocks", "Partners blocked by visitors.")
        purged = CounterMetricFamily(
            "duet_retention_purged",
            "Records deleted by the retention job, by kind (matches, sessions, chat_attachments).",
            labels=["kind"],
        )
        if fill:
            for key, count in sorted(self._door.outcomes.items()):
                if key.startswith("ws:"):
                    sockets.add_metric([key[3:]], count)
                else:
                    sessions.add_metric([key], count)
            for name, count in sorted(self._limits.refused.items()):
                limited.add_metric([name], count)
            flood.add_metric([], self._pace.disconnects)
            suspects.add_metric([], len(self._door.suspects))
            marked.add_metric([], self._door.suspects.marked)
            for key, count in sorted(self._reports.outcomes.items()):
                reason, _, outcome = key.partition(":")
                reports.add_metric([reason, outcome], count)
            blocks.add_metric([], self._blocks.count)
            for kind, count in sorted(self._retention.purged.items()):
                purged.add_metric([kind], count)
        yield from (sessions, sockets, limited, flood, suspects, marked, reports, blocks, purged)


def gauge(name: str, help_text: str, value: float | None) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, help_text)
    if value is not None:
        gauge.add_metric([], float(value))
    return gauge
