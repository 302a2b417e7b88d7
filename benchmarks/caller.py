"""One synthetic caller of ``duet bench calls``: the real ``/ws`` protocol, a real aiortc
peer connection, replayed media, and a raw record of what it saw.

The caller only *records* (event times, and the time and mark of every decoded video frame);
:mod:`benchmarks.analysis` turns records into figures afterwards, when every caller's
matches are known. Two things it decides live:

- ``next`` (with ``next_every``): of the two partners, the one whose index is lower (it
  reads the partner's index from the partner's mark) presses Next ``next_every`` seconds
  into the match, during the steady window only; the first press of each caller is offset
  by its index so that calls do not all switch at once;
- keyframe requests from the SFU restart the caller's clip at its keyframe.

Assumes the process gathers ICE candidates where it should (``set_host_addresses``, done by
the worker) and, with ``loopback``, drops any candidate in the server's offer that is not on
127.0.0.0/8 so that no packet leaves loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from array import array
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from benchmarks.clip import AudioClip, VideoClip
from benchmarks.door import DoorRefused, open_session, ws_url_with
from benchmarks.lipsync import MarkReader, Origin, SyncLog, rtp_origin, watch_sender_reports
from benchmarks.mark import luma_of, read_flash, read_mark
from benchmarks.replay import ReplayAudioTrack, ReplayVideoTrack
from duet.tasks import TaskSet
from sfu.aiortc_hooks import hook_sender

UNREADABLE = -1
"""Mark recorded for a decoded frame without a valid mark."""

Report = Callable[[str, int, float, str], None]
"""``report(kind, caller index, time, detail)``: live progress for the orchestrator."""


@dataclass
class AnnouncedWindow:
    """The steady window, once the orchestrator has announced it (monotonic times)."""

    start: float | None = None
    end: float | None = None


@dataclass
class MatchRecord:
    match: str
    """The server's match id (the same for both partners)."""
    matched_at: float
    after_next: float | None = None
    """When this caller pressed the ``next`` that started the search ending in this match."""
    ended_at: float | None = None
    end: str | None = None
    """``next`` (this caller pressed it), ``partner_left`` or ``stopped``."""


@dataclass
class CallerRecord:
    """Everything one caller saw, with ``time.monotonic()`` times (shared by processes)."""

    index: int
    visitor: str | None = None
    error: str | None = None
    connect_started: float | None = None
    connected_at: float | None = None
    joined_at: float | None = None
    offers: int = 0
    matches: list[MatchRecord] = field(default_factory=list)
    frame_times: array[float] = field(default_factory=lambda: array("d"))
    frame_marks: array[int] = field(default_factory=lambda: array("l"))
    """Mark read from each decoded frame (:data:`UNREADABLE` if none)."""
    audio_times: array[float] = field(default_factory=lambda: array("d"))
    error_codes: list[str] = field(default_factory=list)
    """Codes of ``error`` events the server sent this caller."""
    video_sent: int = 0
    audio_sent: int = 0
    late_frames: int = 0
    """Video frames this caller sent more than one frame period late (load generator lag)."""
    keyframe_requests: int = 0
    """Keyframe requests (PLI/FIR) the SFU sent this caller."""
    connection_state: str | None = None
    sanction: str | None = None
    """``banned`` or ``held`` when moderation stopped this caller (offenders)."""
    sanction_at: float | None = None
    sync: SyncLog = field(default_factory=SyncLog)
    """Lip-sync marks and Sender Reports received (:mod:`benchmarks.lipsync`)."""
    mark_offsets: list[float] = field(default_factory=list)
    """The sender's own audio-minus-video offset of each mark it sent (seconds)."""


def keep_loopback_candidates(sdp: str) -> str:
    """``sdp`` without the ICE candidates whose address is not on 127.0.0.0/8 or ::1."""
    kept = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            try:
                loopback = len(fields) > 4 and ipaddress.ip_address(fields[4]).is_loopback
            except ValueError:  # a hostname (mDNS): not provably loopback
                loopback = False
            if not loopback:
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


PING_EVERY_S = 25.0


class BenchCaller:
    """A synthetic visitor in video mode."""

    def __init__(
        self,
        index: int,
        total: int,
        ws_url: str,
        video: VideoClip,
        audio: AudioClip,
        window: AnnouncedWindow,
        report: Report,
        loopback: bool = True,
        next_every: float | None = None,
        connect_timeout: float = 10.0,
        local_address: str | None = None,
    ) -> None:
        """``local_address``: the loopback address this caller connects from (offender
        runs give each caller its own, so that one offender's IP ban covers nobody else)."""
        self.index = index
        self.local_address = local_address
        self.total = total
        self.ws_url = ws_url
        self.window = window
        self.report = report
        self.loopback = loopback
        self.next_every = next_every
        self.connect_timeout = connect_timeout
        self.record = CallerRecord(index=index)
        self.audio_track = ReplayAudioTrack(audio)
        self.video_track = ReplayVideoTrack(video, on_mark=self.audio_track.beep_at)
        self._marks = MarkReader(self.record.sync, audio.beep_delay)
        self._ws: Any = None
        self._pc: RTCPeerConnection | None = None
        self._tasks = TaskSet()
        self._pending_next: float | None = None
        self._other_mark: int | None = None
        """Last valid mark seen that is not this caller's own (the partner, normally)."""
        self._other_mark_at = 0.0
        self._stopping = False
        self._media_reported = False

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self, start_at: float, stop: asyncio.Event) -> CallerRecord:
        """Connect at ``start_at``, join, talk until ``stop`` is set, then hang up."""
        delay = start_at - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return self.record  # stopped before its turn
            except TimeoutError:
                pass
        record = self.record
        record.connect_started = time.monotonic()
        try:
            token = await open_session(
                self.ws_url, timeout=self.connect_timeout, local_address=self.local_address
            )
            extra: dict[str, Any] = {}
            if self.local_address is not None:
                extra["local_addr"] = (self.local_address, 0)
            self._ws = await websockets.connect(
                ws_url_with(self.ws_url, token),
                max_size=2**22,
                open_timeout=self.connect_timeout,
                **extra,
            )
        except (
            OSError,
            TimeoutError,
            httpx.HTTPError,
            DoorRefused,
            websockets.InvalidURI,
            websockets.InvalidHandshake,
        ) as exc:
            record.error = f"could not connect to {self.ws_url}: {_describe(exc)}"
            self.report("failed", self.index, time.monotonic(), record.error)
            return record
        record.connected_at = time.monotonic()
        self.report("connected", self.index, record.connected_at, "")
        reader = self._spawn(self._read())
        self._spawn(self._keep_alive())
        if self.next_every is not None:
            self._spawn(self._press_next(self.next_every))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({reader, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            await self._hang_up()
        return record

    async def _hang_up(self) -> None:
        self._stopping = True
        now = time.monotonic()
        current = self._current_match()
        if current is not None:
            current.ended_at, current.end = now, "stopped"
        self.record.video_sent = self.video_track.sent
        self.record.late_frames = self.video_track.late
        self.record.audio_sent = self.audio_track.sent
        self.record.mark_offsets = list(self.audio_track.mark_offsets)
        self.record.keyframe_requests = self.video_track.keyframe_requests
        if self._pc is not None:
            self.record.connection_state = str(self._pc.connectionState)
        self._tasks.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2.0)
        if self._pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pc.close(), 5.0)
        self.video_track.stop()
        self.audio_track.stop()

    # --- signaling ---------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def _read(self) -> None:
        record = self.record
        try:
            async for raw in self._ws:
                now = time.monotonic()
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "welcome":
                    record.visitor = event.get("visitor")
                    await self._send({"type": "join", "mode": "video"})
                    record.joined_at = time.monotonic()
                elif kind == "offer":
                    record.offers += 1
                    self._spawn(self._answer_or_report(str(event["sdp"])))
                elif kind == "matched":
                    self._on_matched(str(event["match"]), now)
                elif kind == "partner_left":
                    current = self._current_match()
                    if current is not None:
                        current.ended_at, current.end = now, "partner_left"
                elif kind == "error":
                    record.error_codes.append(str(event.get("code")))
                elif kind in ("banned", "held") and record.sanction is None:
                    record.sanction, record.sanction_at = str(kind), now
        except websockets.ConnectionClosed as exc:
            if record.sanction == "banned":
                return  # moderation closed the socket: expected of an offender
            if not self._stopping:
                record.error = f"the server closed the WebSocket ({_describe(exc)})"
                self.report("failed", self.index, time.monotonic(), record.error)
            return
        if not self._stopping and record.sanction != "banned":
            record.error = "the server closed the WebSocket"
            self.report("failed", self.index, time.monotonic(), record.error)

    def _on_matched(self, match: str, now: float) -> None:
        first = not self.record.matches
        self.record.matches.append(
            MatchRecord(match=match, matched_at=now, after_next=self._pending_next)
        )
        self._pending_next = None
        if first:
            self.report("matched", self.index, now, match)

    def _current_match(self) -> MatchRecord | None:
        if self.record.matches and self.record.matches[-1].ended_at is None:
            return self.record.matches[-1]
        return None

    async def _keep_alive(self) -> None:
        """``ping`` every 25 s, as the browser does: the node closes silent sockets after
        ``door.idle_timeout_s``."""
        while True:
            await asyncio.sleep(PING_EVERY_S)
            try:
                await self._send({"type": "ping"})
            except websockets.ConnectionClosed:
                return  # the reader reports why

    async def _press_next(self, every: float) -> None:
        """Press Next ``every`` seconds into each match (if the lower index of the pair)."""
        offset = every * self.index / max(1, self.total)
        first_press = True
        while True:
            await asyncio.sleep(0.05)
            window, current = self.window, self._current_match()
            now = time.monotonic()
            if window.start is None or now < window.start or current is None:
                continue
            if window.end is not None and now >= window.end:
                return
            start = max(current.matched_at, window.start + offset if first_press else 0.0)
            if now < start + every:
                continue
            partner = self._other_mark if self._other_mark_at >= current.matched_at else None
            if partner is None or partner < self.index:
                continue  # the partner presses (or media never came: the report shows it)
            await self._send({"type": "next"})
            current.ended_at, current.end = now, "next"
            self._pending_next = now
            first_press = False

    # --- media -------------------------------------------------------------------------

    async def _answer_or_report(self, offer_sdp: str) -> None:
        try:
            await self._answer(offer_sdp)
        except Exception as exc:  # aiortc raises many kinds on a bad offer
            self.record.error = f"could not answer the server's offer: {_describe(exc)}"
            self.report("failed", self.index, time.monotonic(), self.record.error)

    async def _answer(self, offer_sdp: str) -> None:
        if self._pc is not None:
            await self._pc.close()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pc = pc
        pc.on("track", self._on_track)
        sdp = keep_loopback_candidates(offer_sdp) if self.loopback else offer_sdp
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            watch_sender_reports(transceiver.receiver, transceiver.kind, self.record.sync)
        video_sender = pc.addTrack(self.video_track)
        pc.addTrack(self.audio_track)
        hook_sender(video_sender, self.video_track.request_keyframe, _ignore_remb)
        await pc.setLocalDescription(await pc.createAnswer())
        await self._send({"type": "answer", "sdp": pc.localDescription.sdp})

    def _on_track(self, track: MediaStreamTrack) -> None:
        origin = self._origin_of(track)
        if track.kind == "video":
            self._spawn(self._watch(track, origin))
        else:
            self._spawn(self._listen(track, origin))

    def _origin_of(self, track: MediaStreamTrack) -> Origin:
        for transceiver in self._pc.getTransceivers() if self._pc is not None else []:
            if transceiver.receiver.track is track:
                return rtp_origin(transceiver.receiver)
        return lambda: None

    async def _watch(self, track: MediaStreamTrack, origin: Origin) -> None:
        record = self.record
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if not isinstance(frame, av.VideoFrame):
                continue
            luma = luma_of(frame)
            mark = read_mark(luma)
            self._marks.video(read_flash(luma), frame.pts, origin, now)
            record.frame_times.append(now)
            record.frame_marks.append(UNREADABLE if mark is None else mark)
            if mark is not None and mark != self.index:
                self._other_mark, self._other_mark_at = mark, now
                if not self._media_reported and self._current_match() is not None:
                    self._media_reported = True
                    self.report("media", self.index, now, str(mark))

    async def _listen(self, track: MediaStreamTrack, origin: Origin) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            self.record.audio_times.append(now)
            if isinstance(frame, av.AudioFrame):
                self._marks.audio(frame, origin, now)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self._tasks.spawn(coro)


def _ignore_remb(bitrate: int) -> None:
    """A replayed clip has a fixed bitrate: bandwidth estimates change nothing."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
