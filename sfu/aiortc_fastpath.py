"""aiortc's and aioice's internals for the packet fast path (``forwarding = "packets"``): Hook 11.

Without it every RTP packet of a visitor crosses, in Python, aioice's datagram queue (an
``asyncio.Queue`` put and get), the DTLS transport's ``_recv_next`` coroutine loop and the
hooked receiver's coroutine on the way in, and on the way out the DTLS transport's
``_send_rtp`` coroutine, the ICE transport's ``send``/``sendto`` coroutines and the
protocol's ``send_data`` coroutine. The fast path does the same work synchronously, in the
datagram callback:

- **In** (:func:`install_fast_path`): aioice's ``StunProtocol.datagram_received`` hands every
  datagram that does not parse as STUN to ``Connection.data_received(data, component)``,
  which only queues it for the DTLS transport. We shadow that method on the connection's
  instance, and ``datagram_received`` on each of its protocols (``_protocols``, all
  gathered by then) so that RTP and RTCP skip the attempt to parse them as STUN.
  A datagram is handled at once only if it is SRTP (first byte 128-191), not SRTCP, the DTLS
  transport is connected (``_state``, so ``_rx_srtp`` is set) and nothing waits in the queue
  (so datagrams are still handled in arrival order). It is then unprotected with
  ``_rx_srtp``, parsed with ``_rtp_header_extensions_map`` and routed with
  ``_rtp_router.route_rtp`` exactly as ``_recv_next`` and ``_handle_rtp_data`` do, with the
  same ``__rx_bytes`` / ``__rx_packets`` counts (``getStats``), and given to the receiver's
  synchronous handler (the one Hook 9 installs). Everything else (STUN, DTLS, SRTCP, a
  transport not yet connected, a receiver without a synchronous handler) takes aiortc's own
  path unchanged.
- **Out** (:func:`send_rtp_now`): what ``RTCDtlsTransport._send_rtp`` does (refuse unless
  connected, SRTP protect with ``_tx_srtp``, count ``__tx_bytes``) and what aioice's
  ``Connection.sendto`` and ``StunProtocol.send_data`` do (the nominated pair of component
  1, ``protocol.transport.sendto(data, remote_addr)``; for a relayed candidate that transport
  is aioice's ``TurnTransport``, whose ``sendto`` is synchronous too), without coroutines.

Pinned to aiortc 1.16 / aioice 0.13 like :mod:`sfu.aiortc_hooks` and
:mod:`sfu.aiortc_rtp_hooks`; ``tests/unit/test_aiortc_hooks.py`` checks each of these
assumptions against the installed source.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import RTCRtpReceiver, clock
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtp import RtpPacket, is_rtcp

logger = logging.getLogger(__name__)

SyncPacketHandler = Callable[[RtpPacket, int | None], None]
"""A receiver's handler of one RTP packet, called with (packet, arrival time in ms); the
fast path passes ``None`` for the arrival time (it is now: ask the clock only if needed)."""


class FastPath:
    """The synchronous receive path of one DTLS transport's ICE connection."""

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        connection = dtls.transport._connection
        self._queue: asyncio.Queue[Any] = connection._queue
        self._slow: Callable[[bytes, int], None] = connection.data_received
        self.handlers: dict[RTCRtpReceiver, SyncPacketHandler] = {}
        self.packets = 0
        """RTP packets handled on the fast path."""
        self._tasks: set[asyncio.Task[None]] = set()
        connection.data_received = self.data_received  # type: ignore[method-assign]
        for protocol in connection._protocols:
            self._skip_stun_parsing(protocol)

    def _skip_stun_parsing(self, protocol: aioice.ice.StunProtocol) -> None:
        """aioice tries to parse every datagram as STUN first (an exception per RTP
        packet). A datagram whose first byte is 128-191 is RTP or RTCP (RFC 7983; STUN's
        first two bits are 0): give it to ``data_received`` at once, as aioice would after
        failing to parse it."""
        original = protocol.datagram_received
        component = protocol.local_candidate.component
        receive = self.data_received

        def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
            if data and isinstance(data, bytes) and 127 < data[0] < 192:
                receive(data, component)
            else:
                original(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign]

    def data_received(self, data: bytes, component: int) -> None:
        dtls: Any = self.dtls
        if (
            not data
            or not 127 < data[0] < 192
            or dtls._state is not State.CONNECTED
            or not self._queue.empty()
            or is_rtcp(data)
        ):
            self._slow(data, component)
            return
        self.packets += 1
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        try:
            data = dtls._rx_srtp.unprotect(data)
            packet = RtpPacket.parse(data, dtls._rtp_header_extensions_map)
        except (pylibsrtp.Error, ValueError):
            return  # as aiortc: an undecryptable or unparsable packet is dropped
        receiver = dtls._rtp_router.route_rtp(packet)
        if receiver is None:
            return
        handler = self.handlers.get(receiver)
        try:
            if handler is not None:
                handler(packet, None)
            else:  # not Duet's: aiortc's own coroutine, as the slow path would await it
                work = receiver._handle_rtp_packet(packet, clock.current_ms())
                task = asyncio.ensure_future(work)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:  # the slow path would end the transport's loop; log instead
            logger.exception("RTP packet handler failed")


def install_fast_path(receiver: RTCRtpReceiver, handler: SyncPacketHandler) -> FastPath | None:
    """Handle ``receiver``'s RTP packets synchronously from now on (see the module doc).

    Call it once the receiver's DTLS transport is connected (e.g. from the slow path's
    first packet): with BUNDLE, aiortc may replace a receiver's transport until the answer
    is applied. Returns ``None`` (nothing installed) if the transport is not connected."""
    dtls = receiver.transport
    if dtls is None or dtls.state != "connected":
        return None
    connection: Any = dtls.transport._connection
    path = getattr(connection.data_received, "__self__", None)
    if not isinstance(path, FastPath) or path.dtls is not dtls:
        path = FastPath(dtls)
    path.handlers[receiver] = handler
    return path


def send_rtp_now(dtls: RTCDtlsTransport, data: bytes) -> bool:
    """Protect and send one serialised RTP (or RTCP) packet now, as ``dtls._send_rtp`` would;
    False if the transport is not connected (where ``_send_rtp`` raises ConnectionError)."""
    d: Any = dtls
    if d._state is not State.CONNECTED:
        return False
    data = d._tx_srtp.protect_rtcp(data) if is_rtcp(data) else d._tx_srtp.protect(data)
    pair = d.transport._connection._nominated.get(1)
    if pair is None:
        return False
    pair.protocol.transport.sendto(data, pair.remote_addr)
    d._RTCDtlsTransport__tx_bytes += len(data)
    return True
