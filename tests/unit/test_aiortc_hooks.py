"""Fails loudly if an aiortc/aioice upgrade moves an internal that sfu.aiortc_hooks uses.

Each check names the hook (see the comments in ``sfu/aiortc_hooks.py``). If one fails after
an upgrade, re-read that part of aiortc, adapt the hook, and re-run the SFU benchmarks.
"""

from __future__ import annotations

import inspect
import queue
from importlib.metadata import version

import aioice.ice
import aioice.turn
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import decoder_worker

from sfu.aiortc_hooks import hook_receiver, hook_sender, set_host_addresses


def test_pinned_versions() -> None:
    assert version("aiortc").startswith("1.16."), "sfu/aiortc_hooks.py was written for 1.16"
    assert version("aioice").startswith("0.13."), "sfu/aiortc_hooks.py was written for 0.13"


def test_hook1_host_addresses() -> None:
    assert list(inspect.signature(aioice.ice.get_host_addresses).parameters) == [
        "use_ipv4",
        "use_ipv6",
    ]
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)
    set_host_addresses(["127.0.0.1", "::1"])
    try:
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1"]
    finally:
        set_host_addresses([])
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)


async def test_hook2_and_5_receiver_internals() -> None:
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "await self._send_rtcp_pli(packet.ssrc)" in source
    assert "await self._send_rtcp(rtcp_packet)" in source  # REMB from its estimator
    assert "input_q.get()" in inspect.getsource(decoder_worker)
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video").receiver
        audio = pc.addTransceiver("audio").receiver
        for receiver in (video, audio):
            assert isinstance(receiver._RTCRtpReceiver__decoder_queue, queue.Queue)
            assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, JitterBuffer)
            assert hasattr(receiver, "_RTCRtpReceiver__rtcp_ssrc")
            assert inspect.iscoroutinefunction(receiver._send_rtcp_pli)
            assert inspect.iscoroutinefunction(receiver._send_rtcp)
        assert audio._RTCRtpReceiver__jitter_buffer._prefetch == 4
        assert video._RTCRtpReceiver__remote_bitrate_estimator is not None
        assert "self.__remote_bitrate_estimator is not None" in source
        hook_receiver(video, lambda c, f: None, lambda: None, lambda b: b, estimate_uplink=False)
        assert video._RTCRtpReceiver__remote_bitrate_estimator is None
        control = hook_receiver(audio, lambda c, f: None, lambda: None, lambda b: b)
        assert audio._RTCRtpReceiver__jitter_buffer._prefetch == 0
        assert not isinstance(audio._RTCRtpReceiver__decoder_queue, queue.Queue)
        assert control.media_ssrc() is None
    finally:
        await pc.close()


async def test_hook3_and_4_sender_internals() -> None:
    source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in source
    assert "unpack_remb_fci(packet.fci)" in source
    encoded = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "self.__encoder.pack(data)" in encoded
    assert callable(Vp8Encoder.pack) and callable(OpusEncoder.pack)
    # sfu.passthrough.OutgoingPacket stands in for av.Packet: pack() may only read these.
    for pack in (Vp8Encoder.pack, OpusEncoder.pack):
        code = inspect.getsource(pack)
        assert "bytes(packet)" in code and "packet.pts" in code and "packet.time_base" in code
    from fractions import Fraction

    from sfu.passthrough import OutgoingPacket

    payloads, timestamp = Vp8Encoder().pack(OutgoingPacket(b"\x10" * 50, 3000, Fraction(1, 90000)))
    assert timestamp == 3000 and payloads
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver("video").sender
        requests: list[bool] = []
        hook_sender(sender, lambda: requests.append(True), lambda b: None)
        sender._send_keyframe()
        assert requests == [True]
    finally:
        await pc.close()


async def test_hook6_selected_pair_internals() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video")
        connection = transceiver.receiver.transport.transport._connection
        assert isinstance(connection, aioice.ice.Connection)
        assert connection._nominated == {}
    finally:
        await pc.close()


def test_hook7_host_candidate_gathering() -> None:
    params = list(inspect.signature(aioice.ice.Connection.get_component_candidates).parameters)
    assert params == ["self", "component", "addresses", "timeout"]
    source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "local_addr=(address, 0)" in source
    assert "self._protocols += host_protocols" in source
    assert "if self.turn_server:" in source
    assert isinstance(aioice.turn.UDP_SOCKET_BUFFER_SIZE, int)
    assert callable(aioice.ice.StunProtocol)


async def test_hook8_sequence_gap_internals() -> None:
    from aiortc.rtcrtpreceiver import RTCRtpReceiver as Receiver
    from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket

    from sfu.aiortc_hooks import SEQUENCE_GAP, hook_sequence_gap

    run = inspect.getsource(RTCRtpSender._run_rtp)
    # Each packet is stored in the history before it is serialised and sent.
    assert run.index("self.__rtp_history[") < run.index("packet.serialize(")
    retransmit = inspect.getsource(RTCRtpSender._retransmit)
    assert "self.__rtp_history.get(sequence_number % RTP_HISTORY_SIZE)" in retransmit
    assert "packet.sequence_number == sequence_number" in retransmit
    # The gap empties aiortc's video jitter buffer.
    assert "JitterBuffer(capacity=512, is_video=True)" in inspect.getsource(Receiver.__init__)
    assert SEQUENCE_GAP >= 512

    pc = RTCPeerConnection()
    sender = pc.addTransceiver("video").sender
    gap = hook_sequence_gap(sender)
    history = sender._RTCRtpSender__rtp_history  # type: ignore[attr-defined]
    first = RtpPacket(sequence_number=65000)
    history[first.sequence_number % RTP_HISTORY_SIZE] = first
    gap.request()
    second = RtpPacket(sequence_number=65001)
    history[second.sequence_number % RTP_HISTORY_SIZE] = second
    assert first.sequence_number == 65000
    assert second.sequence_number == (65001 + SEQUENCE_GAP) & 0xFFFF
    # A NACK names the shifted number and finds the packet.
    assert history.get(second.sequence_number % RTP_HISTORY_SIZE) is second
    await pc.close()
