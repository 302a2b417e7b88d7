"""A synthetic Duet visitor for integration tests: real WebSocket, real aiortc.

Each caller sends a small solid-colour picture (its "mark") and a tone, answers the
server's offer, and records what it receives: events, decoded video frames (with their
mean colour) and audio frames. Assumes the process gathers ICE candidates on 127.0.0.1
only (``sfu.aiortc_hooks.set_host_addresses(["127.0.0.1"])``, done by the test fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from benchmarks.tracks import FPS, ColorTrack, ToneTrack, colour_like
from duet.tasks import TaskSet
from tests.support.door import http_base, open_session


class DecodeErrors(logging.Handler):
    """Counts aiortc's "failed to decode" warnings in this process (every test caller)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1


@dataclass
class Received:
    """What a caller got from the SFU."""

    colors: list[tuple[float, tuple[float, float, float]]] = field(default_factory=list)
    """(monotonic time, mean RGB) of every decoded video frame."""
    audio_frames: int = 0


class CallerMedia:
    """The aiortc side of a caller: answers the SFU's offer, sends its mark, records what
    it receives."""

    def __init__(
        self,
        rgb: tuple[int, int, int],
        configuration: RTCConfiguration | None = None,
        fps: int = FPS,
    ) -> None:
        self.rgb = rgb
        self.fps = fps
        self.picture: np.ndarray[Any, Any] | None = None
        """An RGB photograph to send instead of the solid colour (set before ``join``, or
        changed later with :meth:`show`)."""
        # iceServers must be explicit: with None aiortc adds a public STUN server.
        self.configuration = configuration or RTCConfiguration(iceServers=[])
        self.received = Received()
        self.pc: RTCPeerConnection | None = None
        self.video: ColorTrack | None = None
        self._tasks = TaskSet()

    async def answer(self, offer_sdp: str) -> str:
        """A new peer connection answering ``offer_sdp``; returns the answer SDP."""
        if self.pc is not None:
            await self.pc.close()
        pc = RTCPeerConnection(self.configuration)
        self.pc = pc
        pc.on("track", lambda track: self.spawn(self._consume(track)))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.video = ColorTrack(self.rgb, self.picture, self.fps)
        pc.addTrack(self.video)
        pc.addTrack(ToneTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                rgb = frame.to_ndarray(format="rgb24")
                mean = tuple(float(x) for x in rgb.reshape(-1, 3).mean(axis=0))
                self.received.colors.append((time.monotonic(), mean))  # type: ignore[arg-type]
            else:
                self.received.audio_frames += 1

    def show(self, picture: np.ndarray[Any, np.dtype[np.uint8]] | None) -> None:
        """Send ``picture`` (RGB, any size) from now on; ``None``: the solid colour."""
        self.picture = picture
        if self.video is not None:
            self.video.picture = picture

    def frames_like(self, rgb: tuple[int, int, int], since: float = 0.0) -> int:
        """How many received video frames since ``since`` look like colour ``rgb``."""
        return sum(1 for at, mean in self.received.colors if at >= since and colour_like(mean, rgb))

    def first_like(self, rgb: tuple[int, int, int], since: float = 0.0) -> float | None:
        """When the first frame like ``rgb`` arrived after ``since``."""
        return next(
            (at for at, mean in self.received.colors if at >= since and colour_like(mean, rgb)),
            None,
        )

    async def wait_frames_like(
        self, rgb: tuple[int, int, int], count: int = 10, since: float = 0.0, timeout: float = 15.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while self.frames_like(rgb, since) < count:
            if time.monotonic() > deadline:
                last = self.received.colors[-1][1] if self.received.colors else None
                raise TimeoutError(
                    f"only {self.frames_like(rgb, since)} frames like {rgb} within {timeout} s "
                    f"({len(self.received.colors)} frames in all, last mean {last})"
                )
            await asyncio.sleep(0.1)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(coro)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        self._tasks.cancel()


class Caller(CallerMedia):
    """One synthetic visitor speaking ``/ws``. It gets a session at the door first (solving
    the challenge) unless given a ``token`` (``""``: connect with none)."""

    def __init__(
        self,
        ws_url: str,
        rgb: tuple[int, int, int] = (200, 40, 40),
        configuration: RTCConfiguration | None = None,
        token: str | None = None,
        name: str | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(rgb, configuration)
        self.ws_url = ws_url
        self.token = token
        self.name = name
        self.device = device
        self.events: list[dict[str, Any]] = []
        self.visitor: str | None = None
        self.resume: str | None = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._cursor = 0
        self._new_event = asyncio.Event()

    async def connect(self) -> Caller:
        if self.token is None:
            session = await open_session(http_base(self.ws_url), self.device, self.name)
            self.token = str(session["token"])
        url = f"{self.ws_url}?token={self.token}" if self.token else self.ws_url
        if self.resume:
            url += ("&" if "?" in url else "?") + f"resume={self.resume}"
        self._ws = await websockets.connect(url, max_size=2**22)
        self._reader = asyncio.create_task(self._read())
        welcome = await self.wait_for("welcome")
        self.visitor = welcome["visitor"]
        self.resume = welcome.get("resume")
        return self

    async def reconnect(self, ws_url: str | None = None) -> Caller:
        """A new socket (to ``ws_url``, e.g. another node) with the same session, giving
        back the resume token: the server keeps the visitor id."""
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
        self.ws_url = ws_url or self.ws_url
        return await self.connect()

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        data = message if isinstance(message, (str, bytes)) else json.dumps(message)
        await self._ws.send(data)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                event = json.loads(raw)
                self.events.append(event)
                self._new_event.set()
                if event["type"] == "offer":
                    self.spawn(self._on_offer(event["sdp"]))

    async def _on_offer(self, sdp: str) -> None:
        await self.send({"type": "answer", "sdp": await self.answer(sdp)})

    async def wait_for(self, kind: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The next event of type ``kind`` (after those already returned) matching ``fields``."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._cursor, len(self.events)):
                event = self.events[index]
                if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    self._cursor = index + 1
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e["type"] for e in self.events[self._cursor :]]
                raise TimeoutError(f"no {kind!r} event within {timeout} s; got {seen}")
            self._new_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_event.wait(), remaining)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e["type"] == kind)

    async def join(self, mode: str = "video") -> None:
        await self.send({"type": "join", "mode": mode})

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        await super().close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
