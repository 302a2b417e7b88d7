"""A lossy UDP relay on loopback between one aiortc caller and the SFU (loss tests).

The relay has two sockets: the caller talks to ``caller_port`` (put in the SFU's offer in
place of the SFU's own candidate port) and the SFU talks to ``sfu_port`` (put in the
caller's answer). Each side therefore sees the other at the address its candidate names,
and ICE, DTLS and SRTP pass through unchanged. SRTP media datagrams (RTP, not RTCP; the
RTP header is not encrypted) are dropped at random with a seeded generator, in the
directions asked for; STUN, DTLS and RTCP pass, except Sender Reports where asked
(``sender_reports=False``: an SRTCP packet's header is not encrypted either).
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )(\d+)( typ host.*)$", re.M)


def retarget_candidates(sdp: str, port: int) -> str:
    """``sdp`` with the port of every loopback UDP host candidate replaced by ``port``
    (other candidates removed: only the relay's address is offered)."""
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            match = CANDIDATE.match(line)
            if match is None:
                continue
            line = f"{match.group(1)}{port}{match.group(3)}"
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _is_rtp(data: bytes) -> bool:
    # RFC 7983: 128..191 is RTP/RTCP; RTCP packet types 192..223 (RFC 5761).
    return len(data) >= 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 223


@dataclass
class Direction:
    """Loss in one direction: drop RTP datagrams whose payload type is in ``payload_types``
    (all RTP if empty) with probability ``rate``."""

    rate: float = 0.0
    payload_types: set[int] = field(default_factory=set)
    sender_reports: bool = True
    """False: drop every RTCP datagram that starts with a Sender Report (type 200)."""
    seen: int = 0
    dropped: int = 0
    reports_dropped: int = 0

    def drop(self, data: bytes, rng: random.Random) -> bool:
        if not self.sender_reports and len(data) >= 8 and 127 < data[0] < 192 and data[1] == 200:
            self.reports_dropped += 1
            return True
        if not _is_rtp(data):
            return False
        if self.payload_types and data[1] & 0x7F not in self.payload_types:
            return False
        self.seen += 1
        if rng.random() < self.rate:
            self.dropped += 1
            return True
        return False


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: object) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_datagram(data, addr)  # type: ignore[operator]


class LossyRelay:
    """Relays between one caller and the SFU on 127.0.0.1, dropping media at random."""

    def __init__(self, uplink: Direction, downlink: Direction, seed: int = 7) -> None:
        self.uplink = uplink
        """caller -> SFU"""
        self.downlink = downlink
        """SFU -> caller"""
        self._rng = random.Random(seed)
        self._caller_side = _Side(self._from_caller)
        self._sfu_side = _Side(self._from_sfu)
        self._caller_addr: tuple[str, int] | None = None
        self.sfu_addr: tuple[str, int] | None = None
        """The SFU's real candidate address (set before media flows)."""
        self.caller_port = 0
        self.sfu_port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        caller, _ = await loop.create_datagram_endpoint(
            lambda: self._caller_side, local_addr=("127.0.0.1", 0)
        )
        sfu, _ = await loop.create_datagram_endpoint(
            lambda: self._sfu_side, local_addr=("127.0.0.1", 0)
        )
        self.caller_port = caller.get_extra_info("sockname")[1]
        self.sfu_port = sfu.get_extra_info("sockname")[1]

    def _from_caller(self, data: bytes, addr: tuple[str, int]) -> None:
        self._caller_addr = addr
        if self.sfu_addr is None or self.uplink.drop(data, self._rng):
            return
        assert self._sfu_side.transport is not None
        self._sfu_side.transport.sendto(data, self.sfu_addr)

    def _from_sfu(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._caller_addr is None or self.downlink.drop(data, self._rng):
            return
        assert self._caller_side.transport is not None
        self._caller_side.transport.sendto(data, self._caller_addr)

    def close(self) -> None:
        for side in (self._caller_side, self._sfu_side):
            if side.transport is not None:
                side.transport.close()
