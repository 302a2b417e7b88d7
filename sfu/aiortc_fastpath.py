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
  transport is connected (``_state``, so ``_rx_srtp`` is set) and no RTP packet waits in the
  queue (so RTP packets are still handled in arrival order; SRTCP and DTLS may be
  overtaken). It is then unprotected with ``_rx_srtp``, parsed with
  ``_rtp_header_extensions_map`` and routed with ``_rtp_router.route_rtp`` exactly as
  ``_recv_next`` and ``_handle_rtp_data`` do, with the same ``__rx_bytes`` /
  ``__rx_packets`` counts (``getStats``), and given to the receiver's synchronous handler
  (the one Hook 9 installs). Everything else (STUN, DTLS, SRTCP, a transport not yet
  connected, a receiver without a synchronous handler) takes aiortc's own path unchanged.
- **Out** (:func:`send_rtp_now`): what ``RTCDtlsTransport._send_rtp`` does (refuse unless
  connected, SRTP protect with ``_tx_srtp``, count ``__tx_bytes``) and what aioice's
  ``Connection.sendto`` and ``StunProtocol.send_data`` do (the nominated pair of component
  1, ``protocol.transport.sendto(data, remote_addr)``; for a relayed candidate that transport
  is aioice's ``TurnTransport``, whose ``sendto`` is synchronous too), without coroutines.

- **Native** (Hook 12, :func:`native_route`): when the optional C extension
  ``sfu._native`` is built (``sfu/_native.c``, compiled at install) and ``sfu.native`` is on,
  each protocol's ``datagram_received`` is a C ``Intake`` instead, and a packet whose SSRC
  has a C ``Route`` is forwarded without running any Python: the route does, on the same
  Python objects, what the path above and Duet's feed and track do for an in-order packet in
  the steady state (see the C file's comment), reading every condition from those objects
  for each packet. Any other packet takes the Python path above: before unprotecting
  (:meth:`FastPath.data_received`) or after (:meth:`FastPath.handle_plain`). A track makes
  the route of its source's SSRC after it sent one of its packets in Python
  (``sfu.packets.PacketTrack``); a route expires after ``ROUTE_LIFETIME_S``, so that Python
  sees a packet of each stream at least that often.

Pinned to aiortc 1.16 / aioice 0.13 like :mod:`sfu.aiortc_hooks` and
:mod:`sfu.aiortc_rtp_hooks`; ``tests/unit/test_aiortc_hooks.py`` and
``tests/unit/test_aiortc_fastpath.py`` check each of these assumptions against the
installed source.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import aioice.ice
import pylibsrtp
from aioice.turn import TurnTransport
from aiortc import RTCRtpReceiver, RTCRtpSender, clock
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, is_rtcp
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

logger = logging.getLogger(__name__)

ROUTE_LIFETIME_S = 1.0
"""A native route forwards for this long; then a packet goes to Python (which refreshes
what it does once a second, e.g. the receiver's active sources) and a new route is made."""


def _load_native() -> ModuleType | None:
    """The C extension, configured with pylibsrtp's own ``srtp_protect``/``srtp_unprotect``
    (so that it works on the sessions aiortc made), or ``None`` if it is not built."""
    try:
        _native = importlib.import_module("sfu._native")
    except ImportError:
        return None
    _native.configure(
        int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, "srtp_protect"))),
        int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, "srtp_unprotect"))),
    )
    return _native


_native = _load_native()
NATIVE_BUILT = _native is not None
"""Whether the C extension ``sfu._native`` is built and loaded."""
_use_native = True


def use_native(enabled: bool) -> None:
    """Forward in C when built (``sfu.native``; takes effect for connections made later)."""
    global _use_native
    _use_native = enabled


def native_active() -> bool:
    """Whether new connections forward steady-state packets in C."""
    return NATIVE_BUILT and _use_native


def session_pointer(session: pylibsrtp.Session) -> int:
    """The address of a pylibsrtp session's ``srtp_t`` (for the C extension)."""
    srtp: Any = session._srtp
    return int(_srtp_ffi.cast("uintptr_t", srtp[0]))


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
        self.ingress: Any = None
        """The C side of this connection (``sfu._native.Ingress``), if native."""
        if _native is not None and _use_native:
            self.ingress = _native.Ingress(
                dtls=dtls,
                connected=State.CONNECTED,
                queue=self._queue._queue,  # type: ignore[attr-defined]
                fastpath=self,
                slow=self.data_received,
                plain=self.handle_plain,
                pointer=session_pointer,
            )
        connection.data_received = self.data_received  # type: ignore[method-assign]
        for protocol in connection._protocols:
            self._skip_stun_parsing(protocol)

    @property
    def native_packets(self) -> int:
        """RTP packets forwarded in C (included in :attr:`packets`)."""
        return int(self.ingress.packets) if self.ingress is not None else 0

    def _skip_stun_parsing(self, protocol: aioice.ice.StunProtocol) -> None:
        """aioice tries to parse every datagram as STUN first (an exception per RTP
        packet). A datagram whose first byte is 128-191 is RTP or RTCP (RFC 7983; STUN's
        first two bits are 0): give it to ``data_received`` at once, as aioice would after
        failing to parse it."""
        original = protocol.datagram_received
        component = protocol.local_candidate.component
        if self.ingress is not None:
            assert _native is not None
            protocol.datagram_received = _native.Intake(  # type: ignore[method-assign]
                self.ingress, original, component
            )
            return
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
            or is_rtcp(data)
            or self._rtp_waits()
        ):
            self._slow(data, component)
            return
        self.packets += 1
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        try:
            data = dtls._rx_srtp.unprotect(data)
        except pylibsrtp.Error:
            return  # as aiortc: an undecryptable packet is dropped
        self.handle_plain(data)

    def _rtp_waits(self) -> bool:
        """Whether an RTP packet waits in aiortc's queue: a new one must not overtake it
        (the receive path keeps RTP in order). SRTCP, DTLS records and the close marker may
        be overtaken, so one queued SRTCP packet (aiortc's task has not run yet) does not
        send the RTP behind it to aiortc's slower path too, which under load would keep the
        queue from ever emptying."""
        for item in self._queue._queue:  # type: ignore[attr-defined]
            data = item[0] if item is not None else b""
            if data and 127 < data[0] < 192 and not is_rtcp(data):
                return True
        return False

    def handle_plain(self, data: bytes) -> None:
        """The rest of :meth:`data_received` for an unprotected RTP packet (counted)."""
        dtls: Any = self.dtls
        try:
            packet = RtpPacket.parse(data, dtls._rtp_header_extensions_map)
        except ValueError:
            return  # as aiortc: an unparsable packet is dropped
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


def native_route(
    source: FastPath,
    receiver: RTCRtpReceiver,
    packet: RtpPacket,
    sender: RTCRtpSender,
    extensions: HeaderExtensionsMap,
    **duet: Any,
) -> Any:
    """Hook 12: forward ``packet``'s SSRC in C from now on, to ``sender``'s transport.

    ``packet`` is a source packet the Python path has just forwarded (its SSRC, payload type
    and statistics exist); ``duet`` names the Duet objects the C route reads and updates:
    ``video``, ``feed``, ``sink`` (the track's bound method as subscribed), ``loss``, ``track``,
    ``rewriter``, ``history``, ``out`` (the PacketSender), ``pt_out``, ``ssrc_out``, ``mid``.
    Returns the route, or ``None`` where packets stay in Python: no native ingress, an RTX
    payload type, a partner not connected or relayed through TURN (aioice's
    ``TurnTransport`` wraps each datagram), or no socket."""
    ingress = source.ingress
    if ingress is None or _native is None:
        return None
    r: Any = receiver
    dtls: Any = source.dtls
    stats = r._RTCRtpReceiver__remote_streams.get(packet.ssrc)
    codec = r._RTCRtpReceiver__codecs.get(packet.payload_type)
    ssrc_table = dtls._rtp_router.ssrc_table
    if stats is None or codec is None or is_rtx(codec):
        return None
    if ssrc_table.get(packet.ssrc) is not receiver:
        return None
    out: Any = sender.transport
    if out is None or out._state is not State.CONNECTED or out._tx_srtp is None:
        return None
    nominated = out.transport._connection._nominated
    pair = nominated.get(1)
    if pair is None or isinstance(pair.protocol.transport, TurnTransport):
        return None
    sock = pair.protocol.transport.get_extra_info("socket")
    if sock is None:
        return None
    ids_in = dtls._rtp_header_extensions_map._HeaderExtensionsMap__ids
    ids_out: Any = extensions._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    route = _native.Route(
        pt_in=packet.payload_type,
        audio_level_in=ids_in.audio_level or 0,
        receiver=receiver,
        ssrc_table=ssrc_table,
        ssrc=packet.ssrc,
        stats=stats,
        sender=sender,
        out_dtls=out,
        tx_session=out._tx_srtp,
        tx_ctx=session_pointer(out._tx_srtp),
        nominated=nominated,
        pair=pair,
        connected=State.CONNECTED,
        fd=sock.fileno(),
        host=pair.remote_addr[0],
        port=pair.remote_addr[1],
        mid_id=ids_out.mid or 0,
        abs_send_time_id=ids_out.abs_send_time or 0,
        audio_level_out=ids_out.audio_level or 0,
        history_size=duet["history"].size,
        compact=duet["rewriter"].compact,
        until=time.monotonic() + ROUTE_LIFETIME_S,
        **duet,
    )
    ingress.set_route(packet.ssrc, route)
    return route
