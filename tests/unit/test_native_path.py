"""Hook 12 (``sfu/_native.c``): the C packet path does what the Python path does, or hands over.

A C ``Route`` is run on Duet's real feed, track, rewriter, history and loss tracker and on
aiortc's real ``StreamStatistics``, with real SRTP sessions and a real UDP socket on
loopback; aiortc's transports, receiver and sender are stand-ins carrying the attributes the
route reads. Each forwarded datagram is unprotected and compared with what aiortc's
``RtpPacket.serialize`` makes of the packet Python would send, and the objects' state with
twins fed by the Python classes. Then each condition that must send a packet to Python is
broken once, and the packet must come out there instead.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from sfu import aiortc_fastpath
from sfu.packet_clip import PacketClip
from sfu.packet_feed import PacketFeed
from sfu.packets import PacketTrack
from sfu.rtp_rewrite import LossTracker, StreamRewriter, abs_send_time

KEY = bytes(range(30))
SOURCE_SSRC = 0x11223344
PARTNER_SSRC = 0x55667788
PT_IN, PT_OUT = 96, 97
MID = "1"

native: Any = aiortc_fastpath._native
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=PT_IN)


def test_the_c_extension_is_built() -> None:
    """``make test`` builds ``sfu/_native.c`` (pip install -e); the node then forwards in C."""
    assert aiortc_fastpath.NATIVE_BUILT and native is not None


def _session(direction: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=direction)
    policy.allow_repeat_tx = True
    return pylibsrtp.Session(policy)


def _extensions(ids: dict[str, int]) -> HeaderExtensionsMap:
    uris = {
        "mid": "urn:ietf:params:rtp-hdrext:sdes:mid",
        "abs": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "level": "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    }
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uris[name]) for name, i in ids.items()
            ]
        )
    )
    return extensions


class Stand:
    """An object with just the attributes it is given (aiortc's parts)."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


@dataclass
class Scene:
    kind: str
    ingress: Any
    intake: Any
    route: Any  # set once the scene exists (_route_arguments reads it)
    feed: PacketFeed
    track: PacketTrack
    stats: StreamStatistics
    dtls: Stand
    out_dtls: Stand
    sender: Stand
    out: Stand
    receiver: Stand
    nominated: dict[int, Any]
    queue: deque[Any]
    inbox: socket.socket
    tx: pylibsrtp.Session  # the visitor's (what the SFU receives)
    rx: pylibsrtp.Session  # the partner's (what it receives)
    out_map: HeaderExtensionsMap
    in_map: HeaderExtensionsMap
    slow: list[bytes] = field(default_factory=list)
    plain: list[bytes] = field(default_factory=list)
    original: list[bytes] = field(default_factory=list)
    seq: int = 1000
    ts: int = 5000

    def packet(self, keyframe: bool = False, marker: bool = True, level: int = 37) -> RtpPacket:
        if self.kind == "video":
            payload = bytes([0x10, 0x00 if keyframe else 0x01]) + bytes(range(200))
        else:
            payload = bytes(range(60))
        packet = RtpPacket(
            payload_type=PT_IN,
            marker=int(marker),
            sequence_number=self.seq & 0xFFFF,
            timestamp=self.ts,
            ssrc=SOURCE_SSRC,
            payload=payload,
        )
        if self.kind == "audio":
            packet.extensions.audio_level = (True, level)
        return packet

    def send(self, packet: RtpPacket) -> None:
        """The visitor sends ``packet`` (SRTP) to the SFU's protocol."""
        self.seq = packet.sequence_number + 1
        self.ts = packet.timestamp + 3000
        self.intake(self.tx.protect(packet.serialize(self.in_map)), ("127.0.0.1", 5000))

    def received(self) -> list[RtpPacket]:
        """What the partner got, unprotected."""
        packets = []
        while True:
            try:
                data = self.inbox.recv(2048)
            except BlockingIOError:
                return packets
            packets.append(RtpPacket.parse(self.rx.unprotect(data), self.out_map))


def _scene(kind: str) -> Iterator[Scene]:
    video = kind == "video"
    tx, rx_in = (
        _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
        _session(pylibsrtp.Policy.SSRC_ANY_INBOUND),
    )
    tx_out, rx = (
        _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
        _session(pylibsrtp.Policy.SSRC_ANY_INBOUND),
    )
    in_map = _extensions({"mid": 1, "level": 3} if not video else {"mid": 1, "abs": 2})
    out_map = _extensions({"mid": 4, "abs": 5, "level": 6})
    inbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inbox.bind(("127.0.0.1", 0))
    inbox.setblocking(False)
    outbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stats = StreamStatistics(90000 if video else 48000)
    receiver = Stand(
        _enabled=True,
        _RTCRtpReceiver__remote_bitrate_estimator=None,
        _RTCRtpReceiver__remote_streams={SOURCE_SSRC: stats},
    )
    queue: deque[Any] = deque()
    dtls = Stand(
        _state=State.CONNECTED,
        _rx_srtp=rx_in,
        _RTCDtlsTransport__rx_bytes=0,
        _RTCDtlsTransport__rx_packets=0,
    )
    out_dtls = Stand(_state=State.CONNECTED, _tx_srtp=tx_out, _RTCDtlsTransport__tx_bytes=0)
    sender = Stand(_RTCRtpSender__packet_count=0, _RTCRtpSender__octet_count=0)
    out = Stand(payload_type=PT_OUT, reported=True)
    pair = Stand()
    nominated = {1: pair}
    feed = PacketFeed(kind, "a")
    track = PacketTrack(kind)
    track.rewriter = StreamRewriter(3000 if video else 960, 2000, 90_000, compact=not video)
    track._packet_source = feed
    track._awaiting_keyframe = False
    feed.subscribe_packets(track._on_packet)
    # The Python path's state after a first packet: the source mapped, its SSRC known.
    track.rewriter.rewrite(999, 2000)
    feed._ssrc = SOURCE_SSRC
    feed.loss.received(999, 0.0)
    stats.add(RtpPacket(sequence_number=999, timestamp=2000))
    fastpath = Stand(packets=0)
    scene_slow: list[bytes] = []
    scene_plain: list[bytes] = []
    scene_original: list[bytes] = []
    ingress = native.Ingress(
        dtls=dtls,
        connected=State.CONNECTED,
        queue=queue,
        fastpath=fastpath,
        slow=lambda data, component: scene_slow.append(data),
        plain=scene_plain.append,
        pointer=aiortc_fastpath.session_pointer,
    )
    intake = native.Intake(ingress, lambda data, addr: scene_original.append(data), 1)
    scene = Scene(
        kind, ingress, intake, None, feed, track, stats, dtls, out_dtls, sender, out,
        receiver, nominated, queue, inbox, tx, rx, out_map, in_map,
        slow=scene_slow, plain=scene_plain, original=scene_original,
    )  # fmt: skip
    scene.route = native.Route(**_route_arguments(scene, fd=outbox.fileno()))
    ingress.set_route(SOURCE_SSRC, scene.route)
    yield scene
    inbox.close()
    outbox.close()


@pytest.fixture(params=["video", "audio"])
def scene(request: pytest.FixtureRequest) -> Iterator[Scene]:
    yield from _scene(request.param)


@pytest.fixture
def video() -> Iterator[Scene]:
    yield from _scene("video")


def test_steady_packets_are_forwarded_as_python_would(scene: Scene) -> None:
    video = scene.kind == "video"
    twin_rewriter = StreamRewriter(3000 if video else 960, 2000, 90_000, compact=not video)
    twin_rewriter.rewrite(999, 2000)
    twin_stats = StreamStatistics(scene.stats._clockrate)
    twin_stats.add(RtpPacket(sequence_number=999, timestamp=2000))
    twin_loss = LossTracker()
    twin_loss.received(999, 0.0)
    sent: list[RtpPacket] = []
    for i in range(20):
        packet = scene.packet(marker=i % 3 == 2, level=i)
        sent.append(packet)
        scene.send(packet)
        twin_stats.add(packet)
        twin_loss.received(packet.sequence_number, 0.0)
    received = scene.received()
    assert scene.slow == scene.plain == [] and scene.route.packets == scene.ingress.packets == 20
    assert len(received) == 20
    before = time.time()
    for source, got in zip(sent, received, strict=True):
        mapped = twin_rewriter.rewrite(source.sequence_number, source.timestamp)
        assert mapped is not None
        expected = RtpPacket(
            payload_type=PT_OUT,
            marker=source.marker,
            sequence_number=mapped[0],
            timestamp=mapped[1],
            ssrc=PARTNER_SSRC,
            payload=source.payload,
        )
        expected.extensions.mid = MID
        expected.extensions.abs_send_time = got.extensions.abs_send_time
        expected.extensions.audio_level = source.extensions.audio_level
        assert got.serialize(scene.out_map) == expected.serialize(scene.out_map)
        # abs-send-time is the send time (6.18 fixed point, 24 bits): within a second.
        assert (abs_send_time(before) - (got.extensions.abs_send_time or 0)) % (1 << 24) < 1 << 18
        if video:  # the history holds the packet as sent, before SRTP
            assert scene.track.history.get(mapped[0]) == got.serialize(scene.out_map)
    # The same state as the Python classes reach.
    for name in ("_last_seq", "_last_ts", "_seq_offset", "_ts_offset", "_source_last"):
        assert getattr(scene.track.rewriter, name) == getattr(twin_rewriter, name), name
    for name in ("packets_received", "base_seq", "max_seq", "cycles", "_last_timestamp"):
        assert getattr(scene.stats, name) == getattr(twin_stats, name), name
    if video:
        assert scene.feed.loss._highest == twin_loss._highest
    frames = 20 if not video else sum(p.marker for p in sent)
    assert scene.feed.packets == scene.track.packets == 20
    assert scene.feed.frames == scene.track.frames == frames
    assert scene.feed.bytes == sum(len(p.payload) for p in sent)
    assert scene.sender._RTCRtpSender__packet_count == 20  # type: ignore[attr-defined]
    assert scene.sender._RTCRtpSender__octet_count == scene.feed.bytes  # type: ignore[attr-defined]
    assert scene.dtls._RTCDtlsTransport__rx_packets == 20  # type: ignore[attr-defined]
    assert scene.out_dtls._RTCDtlsTransport__tx_bytes > scene.feed.bytes  # type: ignore[attr-defined]


def test_stun_and_dtls_go_to_aioice(video: Scene) -> None:
    video.intake(b"\x00\x01\x00\x00" + bytes(16), ("127.0.0.1", 5000))  # a STUN request
    video.intake(b"\x16\xfe\xfd" + bytes(10), ("127.0.0.1", 5000))  # DTLS
    assert len(video.original) == 2 and video.route.packets == 0


def _goes_to_python(scene: Scene, packet: RtpPacket | None = None, plain: bool = False) -> None:
    before = scene.route.packets
    scene.send(packet or scene.packet())
    assert scene.route.packets == before
    assert scene.received() == []
    assert (len(scene.plain), len(scene.slow)) == ((1, 0) if plain else (0, 1))


def test_rtcp_goes_to_python(video: Scene) -> None:
    rtcp = bytes([0x80, 200]) + bytes(26)
    video.intake(video.tx.protect_rtcp(rtcp), ("127.0.0.1", 5000))
    assert len(video.slow) == 1 and video.route.packets == 0


def test_a_gap_goes_to_python(video: Scene) -> None:
    video.seq += 2  # the loss tracker NACKs what is missing
    _goes_to_python(video)


def test_missing_packets_being_repaired_go_to_python(video: Scene) -> None:
    video.feed.loss._missing[5] = (0.0, 1)
    _goes_to_python(video)


def test_a_keyframe_start_goes_to_python_decrypted(video: Scene) -> None:
    _goes_to_python(video, video.packet(keyframe=True), plain=True)
    assert RtpPacket.parse(video.plain[0]).sequence_number == video.seq - 1


def test_a_switch_goes_to_python(video: Scene) -> None:
    video.track._packet_source = PacketFeed("video", "b")  # the track now follows b
    _goes_to_python(video)


def test_another_subscriber_goes_to_python(video: Scene) -> None:
    other = PacketTrack("video")
    video.feed.subscribe_packets(other._on_packet)
    _goes_to_python(video)


def test_a_pending_tap_goes_to_python(video: Scene) -> None:
    video.feed._keyframe_waiters.append(Stand())  # type: ignore[arg-type]
    _goes_to_python(video)


def test_frame_sinks_go_to_python(video: Scene) -> None:
    video.feed.subscribe(lambda frame: None)
    _goes_to_python(video)


def _with_clip(scene: Scene, seconds: float = 4.0, max_bytes: int = 1_000_000) -> PacketClip:
    """An evidence clip whose first run Python started at a keyframe."""
    clip = PacketClip(seconds, max_bytes)
    scene.feed.clip = clip
    keyframe = scene.packet(keyframe=True)
    clip.add_packet(keyframe, VP8, keyframe=True)
    scene.seq, scene.ts = keyframe.sequence_number + 1, keyframe.timestamp + 3000
    scene.feed.loss.received(keyframe.sequence_number, 0.0)
    return clip


def test_evidence_clips_keep_what_c_forwards(video: Scene) -> None:
    clip = _with_clip(video)
    twin = PacketClip(4.0, 1_000_000)
    twin.add_packet(RtpPacket.parse(_first_packet(clip)), VP8, keyframe=True)
    for i in range(6):
        packet = video.packet(marker=i % 2 == 1)
        video.send(packet)
        twin.add_packet(packet, VP8, keyframe=False)
    assert video.route.packets == 6 and len(video.received()) == 6
    assert clip.bytes == twin.bytes
    assert [(f.data, f.timestamp) for f in clip.frames()] == [
        (f.data, f.timestamp) for f in twin.frames()
    ]
    assert len(clip.frames()) == 7  # the keyframe and six frames (one packet each)


def _first_packet(clip: PacketClip) -> bytes:
    first = clip._runs[0][0]
    assert isinstance(first, RtpPacket)
    return first.serialize()


def test_a_clip_without_a_keyframe_yet_goes_to_python(video: Scene) -> None:
    video.feed.clip = PacketClip(4.0)
    _goes_to_python(video, plain=True)


def test_a_clip_over_its_budget_goes_to_python(video: Scene) -> None:
    _with_clip(video, max_bytes=300)  # the keyframe's packet leaves no room
    _goes_to_python(video, plain=True)


def test_a_clip_dropping_its_oldest_run_goes_to_python(video: Scene) -> None:
    clip = _with_clip(video, seconds=0.05)  # a span of 4500 at 90 kHz
    second = video.packet(keyframe=True)
    clip.add_packet(second, VP8, keyframe=True)
    video.seq, video.ts = second.sequence_number + 1, second.timestamp + 6000
    video.feed.loss.received(second.sequence_number, 0.0)
    _goes_to_python(video, plain=True)


def test_a_held_track_goes_to_python(video: Scene) -> None:
    video.track._held_packets = []
    _goes_to_python(video)


def test_a_track_waiting_for_a_keyframe_goes_to_python(video: Scene) -> None:
    video.track._awaiting_keyframe = True
    _goes_to_python(video)


def test_a_discontinuity_goes_to_python(video: Scene) -> None:
    video.feed.discontinuities += 1
    _goes_to_python(video)


def test_a_stopped_track_goes_to_python(video: Scene) -> None:
    video.track.stop()
    _goes_to_python(video)


def test_a_new_source_not_yet_mapped_goes_to_python(video: Scene) -> None:
    video.track.rewriter.start_source()
    _goes_to_python(video)


def test_a_partner_without_a_sender_report_goes_to_python(video: Scene) -> None:
    video.out.reported = False
    _goes_to_python(video)


def test_a_partner_transport_closed_goes_to_python(video: Scene) -> None:
    video.out_dtls._state = State.CLOSED
    _goes_to_python(video)


def test_a_new_nominated_pair_goes_to_python(video: Scene) -> None:
    video.nominated[1] = Stand()
    _goes_to_python(video)


def test_new_partner_keys_go_to_python(video: Scene) -> None:
    video.out_dtls._tx_srtp = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    _goes_to_python(video)


def test_a_disabled_receiver_goes_to_python(video: Scene) -> None:
    video.receiver._enabled = False
    _goes_to_python(video)


def test_uplink_estimation_goes_to_python(video: Scene) -> None:
    video.receiver._RTCRtpReceiver__remote_bitrate_estimator = Stand()
    _goes_to_python(video)


def test_datagrams_queued_for_aiortc_keep_their_order(video: Scene) -> None:
    video.queue.append((b"earlier", 1))
    _goes_to_python(video)


def test_a_route_expires(video: Scene) -> None:
    expired = native.Route(**_route_arguments(video, until=time.monotonic() - 1))
    video.ingress.set_route(SOURCE_SSRC, expired)
    _goes_to_python(video)


def _route_arguments(scene: Scene, **changes: Any) -> dict[str, Any]:
    """The route of the scene's source SSRC to the partner's inbox (as ``native_route``
    makes it from the real objects), with ``changes``."""
    video = scene.kind == "video"
    ids: Any = scene.out_map._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    tx_session: Any = scene.out_dtls._tx_srtp  # type: ignore[attr-defined]
    return {
        "video": video,
        "pt_in": PT_IN,
        "audio_level_in": 0 if video else 3,
        "receiver": scene.receiver,
        "ssrc_table": {SOURCE_SSRC: scene.receiver},
        "ssrc": SOURCE_SSRC,
        "stats": scene.stats,
        "feed": scene.feed,
        "sink": scene.feed.packet_sinks[0],
        "loss": scene.feed.loss,
        "track": scene.track,
        "rewriter": scene.track.rewriter,
        "history": scene.track.history,
        "history_size": scene.track.history.size,
        "compact": not video,
        "out": scene.out,
        "sender": scene.sender,
        "out_dtls": scene.out_dtls,
        "tx_session": tx_session,
        "tx_ctx": aiortc_fastpath.session_pointer(tx_session),
        "nominated": scene.nominated,
        "pair": scene.nominated[1],
        "connected": State.CONNECTED,
        "fd": scene.inbox.fileno(),
        "host": "127.0.0.1",
        "port": scene.inbox.getsockname()[1],
        "pt_out": PT_OUT,
        "ssrc_out": PARTNER_SSRC,
        "mid_id": ids.mid,
        "mid": MID,
        "abs_send_time_id": ids.abs_send_time,
        "audio_level_out": ids.audio_level,
        "until": time.monotonic() + 60,
        **changes,
    }


def test_an_undecryptable_packet_is_dropped(video: Scene) -> None:
    data = bytearray(video.tx.protect(video.packet().serialize(video.in_map)))
    data[-1] ^= 0xFF  # the authentication tag no longer matches
    video.intake(bytes(data), ("127.0.0.1", 5000))
    assert video.received() == [] and video.slow == video.plain == []
    assert video.dtls._RTCDtlsTransport__rx_packets == 1  # type: ignore[attr-defined]


def test_vp8_keyframe_start_matches_python() -> None:
    from sfu.rtp_rewrite import vp8_keyframe_start

    payloads = [b"", b"\x10", b"\x10\x00", b"\x10\x01", b"\x90\x80\x81\x02\x00", b"\x90\xe0\x05"]
    payloads += [bytes([a, b, c, 0]) for a in (0x10, 0x90, 0x11) for b in (0, 0x80) for c in (0, 1)]
    for payload in payloads:
        assert native.vp8_keyframe_start(payload) == vp8_keyframe_start(payload), payload


async def test_hook12_the_attributes_c_reads_exist_in_aiortc() -> None:
    """Tripwire: the C route reads and writes these attributes of aiortc's objects by name
    (``sfu/_native.c``, ``PyInit__native``); an aiortc upgrade that renames one must fail
    here, not make every packet an unraisable error."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video")
        receiver, sender = transceiver.receiver, transceiver.sender
        for name in (
            "_enabled",
            "_RTCRtpReceiver__remote_bitrate_estimator",
            "_RTCRtpReceiver__remote_streams",
        ):
            assert hasattr(receiver, name), name
        for name in ("_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count"):
            assert hasattr(sender, name), name
        dtls = sender.transport
        for name in (
            "_state",
            "_rx_srtp",
            "_tx_srtp",
            "_RTCDtlsTransport__rx_bytes",
            "_RTCDtlsTransport__rx_packets",
            "_RTCDtlsTransport__tx_bytes",
            "_rtp_router",
        ):
            assert hasattr(dtls, name), name
        assert isinstance(dtls._rtp_router.ssrc_table, dict)
        stats = StreamStatistics(90000)
        for name in (
            "packets_received",
            "base_seq",
            "max_seq",
            "cycles",
            "_jitter_q4",
            "_last_arrival",
            "_last_timestamp",
            "_clockrate",
        ):
            assert hasattr(stats, name), name
        assert hasattr(PacketTrack("video"), "_MediaStreamTrack__ended")
    finally:
        await pc.close()
