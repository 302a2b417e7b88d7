"""The ``passthrough`` forwarding strategy (default): encoded frames, never transcoded.

A visitor's receiver hands each reassembled encoded frame (VP8 or Opus) to an
:class:`EncodedFeed` (see ``sfu.aiortc_hooks.hook_receiver``); the partner's
:class:`EncodedTrack` gives it to the sender as an :class:`OutgoingPacket`, which aiortc
only re-packetises. Nothing is decoded or encoded on this path.

Because the sender numbers packets itself, the partner cannot notice a frame the SFU did
not forward. So video is gated: after a switch of source, a queue overflow, or a loss the
receiver detected, nothing is forwarded until the next keyframe, and one is requested from
the source (PLI). Keyframe requests are coalesced per source, and a partner's PLI/FIR and
bandwidth estimate (REMB) are relayed to the source.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from duet.tasks import TaskSet
from sfu.aiortc_hooks import hook_receiver, hook_sender
from sfu.forwarding import CLOCK_RATE, Feed, OutboundTrack

if TYPE_CHECKING:
    from sfu.clip import ClipBuffer

HOLD_LIMIT = 90
"""Frames a held (not yet screened) video track keeps since the last keyframe (3 s at
30 fps); more and it keeps none until the next keyframe."""
PLI_MIN_INTERVAL = 0.3
"""Seconds between two keyframe requests to one source (more would be a PLI storm)."""
REMB_TTL = 5.0
"""Seconds a partner's bandwidth estimate stays in force without being refreshed."""


def is_vp8_keyframe(data: bytes) -> bool:
    """Whether a VP8 frame (payload descriptor stripped) is a keyframe (RFC 6386 9.1:
    frame-type bit 0 of the first byte is 0, and a start code follows the 3-byte tag)."""
    return len(data) >= 6 and not data[0] & 0x01 and data[3:6] == b"\x9d\x01\x2a"


class SourceControl(Protocol):
    """How a feed talks back to where its frames come from: the visitor's own receiver
    (``sfu.aiortc_hooks.ReceiverControl``) or another SFU process (``sfu.pipe``)."""

    async def request_keyframe(self) -> bool: ...

    async def send_remb(self, bitrate: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame from a visitor, as forwarded."""

    data: bytes
    timestamp: int
    """In the kind's clock (90 kHz video, 48 kHz audio), starting at 0 per source."""
    keyframe: bool


class OutgoingPacket:
    """What the sender packetises: an encoded frame with its rebased timestamp.

    aiortc's sender passes anything that is not an ``av.Frame`` to ``encoder.pack()``, and
    ``Vp8Encoder.pack`` / ``OpusEncoder.pack`` only read ``bytes(packet)``, ``pts`` and
    ``time_base`` (checked by ``tests/unit/test_aiortc_hooks.py``): a plain object does, and
    saves copying every frame into an ``av.Packet``."""

    __slots__ = ("data", "pts", "time_base")

    def __init__(self, data: bytes, pts: int, time_base: fractions.Fraction) -> None:
        self.data, self.pts, self.time_base = data, pts, time_base

    def __bytes__(self) -> bytes:
        return self.data


class EncodedFeed(Feed):
    """Encoded frames of one visitor's inbound kind, from its receiver (:meth:`hook`) or
    from another SFU process (:meth:`attach_control` + :meth:`accept`)."""

    def __init__(self, kind: str, owner: str, gop_limit: int = 150) -> None:
        super().__init__(kind, owner)
        self.bytes = 0
        self.losses = 0
        """Times the receiver reported lost packets (video is gated until a keyframe)."""
        self.keyframe_requests = 0
        """PLIs sent to this visitor (coalesced requests from partners, gates and taps)."""
        self.gop: list[EncodedFrame] = []
        """Frames since the last keyframe (for the tap's fallback), at most ``gop_limit``;
        empty when that many passed without a keyframe."""
        self._gop_limit = gop_limit
        self.clip: ClipBuffer | None = None
        """The last seconds of this visitor's video, for evidence clips (video only)."""
        self._broken = False
        self._control: SourceControl | None = None
        self._last_pli = -1e9
        self._pending_pli: asyncio.TimerHandle | None = None
        self._partner_remb: tuple[int, float] | None = None
        self._keyframe_waiters: list[asyncio.Future[EncodedFrame]] = []
        self._rtcp_tasks = TaskSet()

    def hook(self, receiver: RTCRtpReceiver, estimate_uplink: bool = True) -> None:
        """Take this kind's encoded frames out of ``receiver`` (before it starts)."""
        self._control = hook_receiver(
            receiver,
            on_frame=self._on_frame,
            on_loss=self.lost,
            cap_remb=self._cap_remb,
            estimate_uplink=estimate_uplink,
        )

    def attach_control(self, control: SourceControl) -> None:
        """Frames will come through :meth:`accept`; keyframe requests go to ``control``."""
        self._control = control

    def _on_frame(self, codec: RTCRtpCodecParameters, frame: JitterFrame) -> None:
        self.accept(bytes(frame.data), int(frame.timestamp))

    def accept(self, data: bytes, timestamp: int) -> None:
        """One complete encoded frame from the source."""
        keyframe = self.kind == "video" and is_vp8_keyframe(data)
        item = EncodedFrame(data, timestamp, keyframe)
        self.bytes += len(data)
        if self.kind == "video":
            if keyframe:
                self.keyframes += 1
                self._broken = False
                self.gop = [item]
                self._cancel_pending_pli()
                for waiter in self._keyframe_waiters:
                    if not waiter.done():
                        waiter.set_result(item)
                self._keyframe_waiters.clear()
            elif self._broken:
                # After a loss nothing is decodable until the next keyframe.
                self.request_keyframe()
                return
            elif self.gop:
                if len(self.gop) < self._gop_limit:
                    self.gop.append(item)
                else:
                    self.gop = []
            if self.clip is not None:
                self.clip.add(item)
        self.push(item)

    def lost(self) -> None:
        """Frames were lost upstream: gate video until the next keyframe."""
        if self.kind == "video":
            self.losses += 1
            self._broken = True
            self.gop = []

    def request_keyframe(self) -> None:
        """Send a PLI to the visitor now, or once the minimum interval has passed."""
        if self.kind != "video" or self._control is None:
            return
        wait = self._last_pli + PLI_MIN_INTERVAL - time.monotonic()
        if wait <= 0:
            self._send_pli()
        elif self._pending_pli is None:
            loop = asyncio.get_running_loop()
            self._pending_pli = loop.call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._pending_pli = None
        if self._control is None:
            return
        self._last_pli = time.monotonic()
        self.keyframe_requests += 1
        self._send_rtcp(self._control.request_keyframe())

    def _send_rtcp(self, sending: Coroutine[Any, Any, bool]) -> None:
        self._rtcp_tasks.spawn(sending)

    def _cancel_pending_pli(self) -> None:
        if self._pending_pli is not None:
            self._pending_pli.cancel()
            self._pending_pli = None

    async def next_keyframe(self, timeout: float) -> EncodedFrame | None:
        """Request a keyframe and wait up to ``timeout`` seconds for it."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[EncodedFrame] = loop.create_future()
        self._keyframe_waiters.append(waiter)
        self.request_keyframe()
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            if waiter in self._keyframe_waiters:
                self._keyframe_waiters.remove(waiter)

    def offer_remb(self, bitrate: int) -> None:
        """The partner's estimate: forward it now if it lowers what the visitor may send."""
        self._partner_remb = (bitrate, time.monotonic())
        if self._control is not None and self.kind == "video":
            self._send_rtcp(self._control.send_remb(bitrate))

    def _cap_remb(self, own: int) -> int:
        if self._partner_remb is None:
            return own
        bitrate, at = self._partner_remb
        if time.monotonic() - at > REMB_TTL:
            self._partner_remb = None
            return own
        return min(own, bitrate)

    async def close(self) -> None:
        await super().close()
        self._cancel_pending_pli()
        self._control = None
        for waiter in self._keyframe_waiters:
            waiter.cancel()
        self._keyframe_waiters.clear()


class EncodedTrack(OutboundTrack[EncodedFrame]):
    """Transmits a feed's encoded frames as packets; the sender only packetises them."""

    def __init__(self, kind: str, queue_size: int = 16) -> None:
        super().__init__(kind, queue_size)
        self._time_base = fractions.Fraction(1, CLOCK_RATE[kind])
        self._awaiting_keyframe = kind == "video"
        self._held: list[EncodedFrame] | None = None
        """Held video (gate closed): the frames since the last keyframe; None: open."""
        self.keyframe_requests = 0
        """Keyframe requests relayed from this visitor (its PLI/FIR) to the source."""

    def hook(self, sender: RTCRtpSender) -> None:
        hook_sender(sender, on_keyframe_request=self._partner_wants_keyframe, on_remb=self._remb)

    def _partner_wants_keyframe(self) -> None:
        self.keyframe_requests += 1
        if self.source is not None:
            self.source.request_keyframe()

    def _remb(self, bitrate: int) -> None:
        if self.source is not None:
            self.source.offer_remb(bitrate)

    def _on_switch(self) -> None:
        if self._held is not None:
            self._held = []  # held frames of the previous source are worthless now
        if self.kind == "video":
            self._awaiting_keyframe = True
            if self.source is not None:
                self.source.request_keyframe()

    def _on_drop(self) -> None:
        if self.kind == "video":
            self._awaiting_keyframe = True
            if self.source is not None:
                self.source.request_keyframe()

    # --- the pre-screen gate (see OutboundTrack.hold) -----------------------------------

    def hold(self) -> None:
        """Forward no video until :meth:`release`; keep the frames since the last keyframe
        (at most ``HOLD_LIMIT``) so that the screened keyframe can be forwarded itself."""
        if self.kind == "video" and self._held is None:
            self._held = []
            while not self._queue.empty():
                self._queue.get_nowait()
                self.dropped += 1

    def release(self, keyframe: int | None = None) -> bool:
        """Open the gate. ``keyframe``: source timestamp of the keyframe that was checked;
        if it is still held it is forwarded first with the frames that followed it (no
        second keyframe round trip). Otherwise (``None``, or gone) forwarding starts at
        the next keyframe, which is requested now. Returns whether the checked keyframe
        was forwarded."""
        held, self._held = self._held, None
        if held is None:
            return False
        start = next(
            (i for i, f in enumerate(held) if f.keyframe and f.timestamp == keyframe), None
        )
        if keyframe is None or start is None or len(held) - start > self._queue.maxsize:
            self.dropped += len(held)
            self._awaiting_keyframe = True
            if self.source is not None:
                self.source.request_keyframe()
            return False
        self.dropped += start
        for item in held[start:]:
            self._queue.put_nowait(item)
        self._awaiting_keyframe = False
        return True

    @property
    def held(self) -> bool:
        return self._held is not None

    def _hold_frame(self, item: EncodedFrame) -> None:
        assert self._held is not None
        if item.keyframe:
            self.dropped += len(self._held)
            self._held = [item]
        elif self._held and len(self._held) < HOLD_LIMIT:
            self._held.append(item)
        else:
            self.dropped += len(self._held) + 1
            self._held = []

    def _deliver(self, item: EncodedFrame) -> None:
        if self.kind != "video":
            super()._deliver(item)  # audio frames stand alone: drop the oldest if full
            return
        if self.readyState != "live":
            return
        if self._held is not None:
            self._hold_frame(item)
            return
        if self._queue.full():
            # Every queued frame depends on the oldest one: drop them all.
            while not self._queue.empty():
                self._queue.get_nowait()
                self.dropped += 1
            self._on_drop()
        if self._awaiting_keyframe:
            if not item.keyframe:
                self.dropped += 1
                if self.source is not None:
                    self.source.request_keyframe()
                return
            self._awaiting_keyframe = False
        self._queue.put_nowait(item)

    def _emit(self, item: EncodedFrame) -> Any:
        return OutgoingPacket(item.data, self.rebased(item.timestamp), self._time_base)
