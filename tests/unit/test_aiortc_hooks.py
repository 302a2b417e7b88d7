"""Fails loudly if an aiortc/aioice upgrade moves an internal that the hooks modules use.

Each check names the hook (see the comments in ``sfu/aiortc_hooks.py``, Hooks 1-8, and
``sfu/aiortc_rtp_hooks.py``, Hooks 9 and 10; Hook 11, ``sfu/aiortc_fastpath.py``, has its
own file, ``test_aiortc_fastpath.py``). If one fails after an upgrade, re-read that
part of aiortc, adapt the hook, and re-run the SFU benchmarks. The last test checks that no
other ``sfu`` module reaches into aiortc's name-mangled internals.
"""

from __future__ import annotations

import inspect
import queue
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

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
        # aiortc's handler records an RTX packet's SSRC as a source too: PLIs must not
        # name it (the source ignores them), so media_ssrc skips the receiver's RTX SSRCs.
        from aiortc import clock

        active = audio._RTCRtpReceiver__active_ssrc
        assert "self.__active_ssrc[packet.ssrc]" in source
        assert source.index("self.__active_ssrc[packet.ssrc]") < source.index("unwrap_rtx(")
        audio._RTCRtpReceiver__rtx_ssrc[8] = 7
        active[7] = clock.current_datetime()
        active[8] = clock.current_datetime()
        assert control.media_ssrc() == 7
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
    assert gap.last == (second.sequence_number, second.timestamp)
    # Packets mode: Duet sent packets numbered up to 40000 on this sender; the sender's own
    # next packet (a pipe source's frame) continues there, whatever its own counter says,
    # and a gap requested for the same new source does not add to it.
    gap.continue_at(40001)
    gap.request()
    third = RtpPacket(sequence_number=65002, timestamp=7)
    history[third.sequence_number % RTP_HISTORY_SIZE] = third
    fourth = RtpPacket(sequence_number=65003, timestamp=8)
    history[fourth.sequence_number % RTP_HISTORY_SIZE] = fourth
    assert (third.sequence_number, fourth.sequence_number) == (40001, 40002)
    assert gap.last == (40002, 8)
    await pc.close()


async def test_hook9_packets_out_of_the_receiver() -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket, RtpPacket

    from sfu.aiortc_rtp_hooks import hook_receiver_packets

    routed = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in routed
    assert "RtpPacket.parse(data, self._rtp_header_extensions_map)" in routed
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    steps = [
        "if not self._enabled:",
        "self.__remote_bitrate_estimator.add(",
        "self.__active_ssrc[packet.ssrc] = clock.current_datetime()",
        "codec = self.__codecs.get(packet.payload_type)",
        "self.__remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)",
        "self.__remote_streams[packet.ssrc].add(packet)",
        "original_ssrc = self.__rtx_ssrc.get(packet.ssrc)",
        'apt = codec.parameters.get("apt")',
        "packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)",
        "self.__nack_generator.add(packet)",
    ]
    positions = [source.index(step) for step in steps]
    assert positions == sorted(positions)  # the slim handler keeps this order
    assert "isinstance(packet, RtcpSrPacket)" in inspect.getsource(
        RTCRtpReceiver._handle_rtcp_packet
    )
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp_nack).parameters) == [
        "self",
        "media_ssrc",
        "lost",
    ]

    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        got: list[tuple[int, int, int, str]] = []
        reports: list[tuple[int, int, int]] = []

        def on_packet(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            got.append((packet.ssrc, packet.sequence_number, packet.payload_type, codec.mimeType))

        hook_receiver_packets(
            receiver, on_packet, lambda *sr: reports.append(sr), estimate_uplink=False
        )
        assert receiver._RTCRtpReceiver__remote_bitrate_estimator is None
        codecs = receiver._RTCRtpReceiver__codecs
        codecs[96] = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
        codecs[97] = RTCRtpCodecParameters(
            mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
        )
        receiver._RTCRtpReceiver__rtx_ssrc[8] = 7
        assert receiver._enabled
        await receiver._handle_rtp_packet(
            RtpPacket(payload_type=96, sequence_number=5, ssrc=7, payload=b"\x10ab"), 0
        )
        rtx = RtpPacket(payload_type=97, sequence_number=900, ssrc=8, payload=b"\x00\x04\x10ab")
        await receiver._handle_rtp_packet(rtx, 0)
        await receiver._handle_rtp_packet(RtpPacket(payload_type=111, ssrc=7), 0)  # unknown
        assert got == [(7, 5, 96, "video/VP8"), (7, 4, 96, "video/VP8")]
        # Only the media SSRC is a synchronisation source (PLIs name it), never RTX's.
        assert [s.source for s in receiver.getSynchronizationSources()] == [7]
        assert 7 in receiver._RTCRtpReceiver__remote_streams  # receiver reports go on
        sr = RtcpSrPacket(
            ssrc=7,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=123, rtp_timestamp=456, packet_count=1, octet_count=2
            ),
        )
        await receiver._handle_rtcp_packet(sr)
        assert reports == [(7, 123, 456)]
    finally:
        await pc.close()


async def test_hook9_uplink_estimate_still_sends_remb() -> None:
    """With ``sfu.uplink_estimation`` the slim handler feeds aiortc's estimator and sends
    its REMB (as a task: the handler itself is synchronous, for Hook 11)."""
    import asyncio

    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, unpack_remb_fci

    from sfu.aiortc_rtp_hooks import hook_receiver_packets

    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        sent: list[Any] = []

        async def send_rtcp(packet: Any) -> None:
            sent.append(packet)

        receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]
        got: list[int] = []
        hook_receiver_packets(
            receiver, lambda p, c: got.append(p.sequence_number), lambda *sr: None, True
        )
        receiver._RTCRtpReceiver__codecs[96] = RTCRtpCodecParameters(
            mimeType="video/VP8", clockRate=90000, payloadType=96
        )
        receiver._RTCRtpReceiver__rtcp_ssrc = 1234
        for i in range(400):  # 4 s of 100 packets per second, 10 ms apart at both ends
            packet = RtpPacket(payload_type=96, sequence_number=i, ssrc=7, payload=bytes(1000))
            packet.extensions.abs_send_time = (i * 2621) & 0xFFFFFF  # 6.18 fixed point
            await receiver._handle_rtp_packet(packet, 1000 + 10 * i)
        for _ in range(3):
            await asyncio.sleep(0)
        assert got == list(range(400))
        rembs = [p for p in sent if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP]
        assert rembs and rembs[0].ssrc == 1234
        assert unpack_remb_fci(rembs[0].fci)[1] == [7]
    finally:
        await pc.close()


async def test_hook10_packets_into_the_sender() -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpparameters import (
        RTCRtcpParameters,
        RTCRtpCodecParameters,
        RTCRtpHeaderExtensionParameters,
        RTCRtpSendParameters,
    )
    from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket, RtcpSrPacket

    from sfu.aiortc_rtp_hooks import hook_sender_packets

    send = inspect.getsource(RTCRtpSender.send)
    assert "self._run_rtp(parameters.codecs[0])" in send
    assert "self.__rtp_header_extensions_map.configure(parameters)" in send
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for field in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert f"{field}=self.__{field}" in rtcp
    # PacketSender.send_report does what one round of the loop does.
    assert "self.__lsr = ((self.__ntp_timestamp) >> 16) & 0xFFFFFFFF" in rtcp
    assert "self.__lsr_time = time.time()" in rtcp
    assert 'items=[(1, self.__cname.encode("utf8"))]' in rtcp
    stats = inspect.getsource(RTCRtpSender.getStats)
    assert "packetsSent=self.__packet_count" in stats
    assert "bytesSent=self.__octet_count" in stats
    assert inspect.iscoroutinefunction(RTCDtlsTransport._send_rtp)
    handle = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "packet.fmt == RTCP_RTPFB_NACK" in handle

    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver("video").sender
        nacked: list[list[int]] = []

        async def on_nack(lost: list[int]) -> None:
            nacked.append(lost)

        out = hook_sender_packets(sender, lambda: None, lambda b: None, on_nack)
        assert out.ssrc == sender._ssrc and out.rtx_ssrc == sender._rtx_ssrc
        assert not out.ready
        parameters = RTCRtpSendParameters(
            codecs=[
                RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=100),
                RTCRtpCodecParameters(
                    mimeType="video/rtx", clockRate=90000, payloadType=101, parameters={"apt": 100}
                ),
            ],
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=9, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
            ],
            muxId="1",
            rtcp=RTCRtcpParameters(cname="x"),
        )
        out.configure(parameters)
        assert (out.payload_type, out.rtx_payload_type, out.mid) == (100, 101, "1")
        assert out.ready
        packet = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sender._ssrc)
        packet.lost = [3, 4]
        await sender._handle_rtcp_packet(packet)
        assert nacked == [[3, 4]]
        out.set_sender_report(77 << 16, 88)
        assert sender._RTCRtpSender__ntp_timestamp == 77 << 16
        assert sender._RTCRtpSender__rtp_timestamp == 88
        assert sender._RTCRtpSender__packet_count == 0
        sent: list[list[Any]] = []

        async def send_rtcp(packets: list[Any]) -> None:
            sent.append(packets)

        sender._send_rtcp = send_rtcp  # type: ignore[method-assign]
        sender._RTCRtpSender__cname = "duet"
        await out.send_report()
        report, sdes = sent[0]
        assert isinstance(report, RtcpSrPacket) and report.ssrc == sender._ssrc
        info = report.sender_info
        assert (info.ntp_timestamp, info.rtp_timestamp, info.packet_count) == (77 << 16, 88, 0)
        assert sdes.chunks[0].items == [(1, b"duet")]
        assert sender._RTCRtpSender__lsr == 77
    finally:
        await pc.close()


HOOKS_MODULES = {"aiortc_hooks.py", "aiortc_rtp_hooks.py", "aiortc_fastpath.py"}
MANGLED = re.compile(r"\._(RTC|Connection)\w*__\w+")
"""A name-mangled private attribute of an aiortc or aioice class (``x._RTCRtpSender__y``)."""


def mangled_uses(source: str) -> list[str]:
    return MANGLED.findall(source)


def test_only_the_hooks_modules_touch_aiortc_internals() -> None:
    import sfu

    package = Path(sfu.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if path.name not in HOOKS_MODULES and mangled_uses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_internals_check_sees_one() -> None:
    assert mangled_uses("r._RTCRtpReceiver__codecs") != []
    assert mangled_uses("r._private") == []
