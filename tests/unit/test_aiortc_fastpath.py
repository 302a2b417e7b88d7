"""Hook 11 (``sfu/aiortc_fastpath.py``): the synchronous RTP path into and out of aiortc.

The first test fails loudly if an aiortc/aioice upgrade changes what the fast path copies
(re-read ``RTCDtlsTransport._recv_next`` / ``_send_rtp`` and aioice's ``Connection`` then);
the others run the fast path on a real DTLS transport's ICE connection with real SRTP
sessions and a real UDP socket on loopback.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any

import aioice.ice
import aioice.stun
import pylibsrtp
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtp import RtcpPacket, RtcpPsfbPacket, RtpPacket

from sfu.aiortc_fastpath import FastPath, install_fast_path, send_rtp_now

KEY = bytes(range(30))  # AES-CM 128 key and salt, the default SRTP profile


def _session(direction: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=direction)
    policy.allow_repeat_tx = True  # as aiortc's sessions
    return pylibsrtp.Session(policy)


def test_hook11_what_the_fast_path_copies() -> None:
    datagram = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    steps = [
        "message = stun.parse_message(data)",
        "except ValueError:",
        "self.receiver.data_received(data, self.local_candidate.component)",
        "return",
    ]
    positions = [datagram.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "self._protocols: list[StunProtocol] = []" in inspect.getsource(
        aioice.ice.Connection.__init__
    )
    received = inspect.getsource(aioice.ice.Connection.data_received)
    assert "self._queue.put_nowait((data, component))" in received
    assert "await self._queue.get()" in inspect.getsource(aioice.ice.Connection.recvfrom)
    assert "await self.sendto(data, 1)" in inspect.getsource(aioice.ice.Connection.send)
    sendto = inspect.getsource(aioice.ice.Connection.sendto)
    assert "active_pair = self._nominated.get(component)" in sendto
    assert "await active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto
    send_data = inspect.getsource(aioice.ice.StunProtocol.send_data)
    assert send_data.rstrip().endswith("self.transport.sendto(data, addr)")
    ice = inspect.getsource(RTCIceTransport.__init__)
    assert "self._recv = self._connection.recv" in ice
    assert "self._send = self._connection.send" in ice
    recv_next = inspect.getsource(RTCDtlsTransport._recv_next)
    steps = [
        "data = await self.transport._recv()",
        "self.__rx_bytes += len(data)",
        "self.__rx_packets += 1",
        "elif first_byte > 127 and first_byte < 192 and self._rx_srtp:",
        "if is_rtcp(data):",
        "data = self._rx_srtp.unprotect(data)",
        "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)",
    ]
    positions = [recv_next.index(step) for step in steps]
    assert positions == sorted(positions)
    handle = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "RtpPacket.parse(data, self._rtp_header_extensions_map)" in handle
    assert "receiver = self._rtp_router.route_rtp(packet)" in handle
    state = inspect.getsource(RTCDtlsTransport.state.fget)  # type: ignore[attr-defined]
    assert "return str(self._state)[6:].lower()" in state
    start = inspect.getsource(RTCDtlsTransport.start)
    assert start.index("self._setup_srtp()") < start.index("self._set_state(State.CONNECTED)")
    send = inspect.getsource(RTCDtlsTransport._send_rtp)
    steps = [
        "if self._state != State.CONNECTED:",
        "data = self._tx_srtp.protect_rtcp(data)",
        "data = self._tx_srtp.protect(data)",
        "await self.transport._send(data)",
        "self.__tx_bytes += len(data)",
    ]
    positions = [send.index(step) for step in steps]
    assert positions == sorted(positions)


async def test_hook11_srtp_in_is_handled_at_once_and_the_rest_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []  # datagrams aioice tried to parse as STUN
    parse = aioice.stun.parse_message
    monkeypatch.setattr(aioice.stun, "parse_message", lambda d: parsed.append(d) or parse(d))
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        dtls: Any = receiver.transport
        connection = dtls.transport._connection
        got: list[tuple[int, int | None]] = []
        assert install_fast_path(receiver, lambda p, t: got.append((p.sequence_number, t))) is None
        _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: aioice.ice.StunProtocol(connection), local_addr=("127.0.0.1", 0)
        )
        protocol.local_candidate = aioice.ice.Candidate("1", 1, "udp", 1, "127.0.0.1", 9, "host")
        connection._protocols.append(protocol)
        path = FastPath(dtls)
        path.handlers[receiver] = lambda p, t: got.append((p.sequence_number, t))
        dtls._rtp_router.register_receiver(receiver, ssrcs=[7], payload_types=[96], mid=None)
        tx = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        dtls._rx_srtp = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)

        def rtp(seq: int) -> bytes:
            packet = RtpPacket(payload_type=96, sequence_number=seq, ssrc=7, payload=b"\x10ab")
            return bytes(tx.protect(packet.serialize()))

        first = rtp(1)
        connection.data_received(first, 1)  # not connected yet: aiortc's queue
        assert got == [] and connection._queue.qsize() == 1
        dtls._state = State.CONNECTED
        connection.data_received(rtp(2), 1)  # something waits in the queue: keep the order
        assert got == [] and connection._queue.qsize() == 2
        while not connection._queue.empty():
            connection._queue.get_nowait()
        protocol.datagram_received(rtp(3), ("127.0.0.1", 10))
        assert got == [(3, None)] and connection._queue.empty()  # at once, no queue
        assert parsed == []  # and without trying to parse it as STUN
        assert path.packets == 1 and dtls._RTCDtlsTransport__rx_packets == 1
        assert dtls._RTCDtlsTransport__rx_bytes == len(first)
        pli = RtcpPsfbPacket(fmt=1, ssrc=1, media_ssrc=7)
        connection.data_received(bytes(tx.protect_rtcp(bytes(pli))), 1)  # SRTCP
        protocol.datagram_received(b"\x16\xfe\xfd" + bytes(30), ("127.0.0.1", 10))  # DTLS
        protocol.datagram_received(b"", ("127.0.0.1", 10))  # an empty datagram
        assert got == [(3, None)] and connection._queue.qsize() == 3
        assert len(parsed) == 2  # the DTLS record and the empty one: aioice's own path
        connection.data_received(rtp(4), 1)  # only SRTCP and DTLS wait: RTP overtakes them
        assert got == [(3, None), (4, None)] and connection._queue.qsize() == 3
        while not connection._queue.empty():
            connection._queue.get_nowait()
        connection.data_received(rtp(3), 1)  # a replay: SRTP refuses it, as aiortc would
        connection.data_received(rtp(5)[:-12] + bytes(12), 1)  # bad authentication tag
        assert got == [(3, None), (4, None)] and connection._queue.empty()
        unknown = RtpPacket(payload_type=100, sequence_number=5, ssrc=99).serialize()
        connection.data_received(bytes(tx.protect(unknown)), 1)  # routed nowhere
        assert got == [(3, None), (4, None)]
        dtls._state = State.CLOSED
        connection.data_received(rtp(6), 1)
        assert got == [(3, None), (4, None)] and connection._queue.qsize() == 1
        # Installing again on the same transport adds a handler to the same path.
        dtls._state = State.CONNECTED
        assert receiver.transport.state == "connected"
        assert install_fast_path(receiver, lambda p, t: None) is path
    finally:
        dtls._state = State.CLOSED
        await pc.close()


async def test_hook11_srtp_out_goes_straight_to_the_nominated_pair() -> None:
    pc = RTCPeerConnection()
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    try:
        dtls: Any = pc.addTransceiver("video").sender.transport
        connection = dtls.transport._connection
        packet = RtpPacket(payload_type=96, sequence_number=9, ssrc=7, payload=b"xyz").serialize()
        assert not send_rtp_now(dtls, packet)  # not connected: what _send_rtp refuses
        dtls._state = State.CONNECTED
        dtls._tx_srtp = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        assert not send_rtp_now(dtls, packet)  # no nominated pair yet
        _, protocol = await loop.create_datagram_endpoint(
            lambda: aioice.ice.StunProtocol(connection), local_addr=("127.0.0.1", 0)
        )
        remote = aioice.ice.Candidate("1", 1, "udp", 1, *peer.getsockname(), "host")
        connection._nominated[1] = aioice.ice.CandidatePair(protocol, remote)
        assert send_rtp_now(dtls, packet)
        pli = bytes(RtcpPsfbPacket(fmt=1, ssrc=1, media_ssrc=7))
        assert send_rtp_now(dtls, pli)
        rx = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
        first = await asyncio.wait_for(loop.sock_recv(peer, 1500), 2)
        second = await asyncio.wait_for(loop.sock_recv(peer, 1500), 2)
        assert rx.unprotect(first) == packet
        assert isinstance(RtcpPacket.parse(rx.unprotect_rtcp(second))[0], RtcpPsfbPacket)
        assert dtls._RTCDtlsTransport__tx_bytes == len(first) + len(second)
        protocol.transport.close()
    finally:
        dtls._state = State.CLOSED
        peer.close()
        await pc.close()
