"""Pipes: encoded media between SFU processes (and nodes), over UDP.

mediasoup's pipe transports are the model: when a match's two visitors sit in different SFU
processes, each process pulls the partner's encoded frames from the other over a plain
datagram socket, and sends keyframe requests and bandwidth estimates back. Every process has
one :class:`Pipe` (one UDP socket) playing both roles:

- *publisher*: a peer process subscribes to one of our visitors (``SUB``, HMAC-signed with
  the cluster secret and refreshed every second; it lapses after ``SUB_TTL`` without a
  refresh). We send that visitor's audio and video frames to it, split into chunks that fit
  a datagram; ``PLI`` and ``REMB`` from it reach the visitor's own feeds.
- *subscriber*: :meth:`Pipe.subscribe` returns a :class:`RemoteSource` whose feeds (one per
  kind) are :class:`~sfu.passthrough.EncodedFeed` objects fed by reassembled frames. A frame
  that never completes, or a gap in frame numbers, counts as a loss: video is gated until
  the next keyframe and one is requested, exactly as for a local receiver.

Datagrams (network byte order), all starting with ``b"DP1"`` and a type byte:

- ``SUB``   sub_id:u32 expires:u64 mac:16B stream:utf8 (subscriber -> publisher)
- ``UNSUB`` sub_id:u32 mac:16B                          (subscriber -> publisher)
- ``FRAME`` sub_id:u32 kind:u8 seq:u32 ts:u32 flags:u8 index:u16 count:u16 payload
- ``PLI``   sub_id:u32                                  (subscriber -> publisher)
- ``REMB``  sub_id:u32 bitrate:u32                      (subscriber -> publisher)

Assumptions: pipes run on a private network or loopback (frames are not encrypted; the MAC
only stops strangers from subscribing); the cluster shares ``secret``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sfu.forwarding import Feed
from sfu.passthrough import EncodedFeed, EncodedFrame

logger = logging.getLogger(__name__)

MAGIC = b"DP1"
SUB, UNSUB, FRAME, PLI, REMB = 1, 2, 3, 4, 5
KIND_CODES = {"audio": 0, "video": 1}
KINDS_BY_CODE = {code: kind for kind, code in KIND_CODES.items()}
SUB_TTL = 5.0
"""Seconds a subscription lives without a refresh."""
REFRESH_INTERVAL = 1.0
MAX_PARTIAL_FRAMES = 8
"""Incomplete frames kept per stream while reassembling (older ones count as lost)."""

_FRAME_HEADER = struct.Struct("!3sBIBIIBHH")
_SUB_HEADER = struct.Struct("!3sBIQ16s")
_UNSUB = struct.Struct("!3sBI16s")
_PLI = struct.Struct("!3sBI")
_REMB = struct.Struct("!3sBII")

Lookup = Callable[[str], "dict[str, Feed] | None"]
"""Gives the feeds (by kind) of a local visitor, or None if there is no such visitor."""


def _mac(secret: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, b"|".join(parts), hashlib.sha256).digest()[:16]


@dataclass
class PipeCounters:
    frames_sent: int = 0
    datagrams_sent: int = 0
    bytes_sent: int = 0
    frames_received: int = 0
    frames_lost: int = 0
    refused: int = 0
    """Subscriptions refused (bad MAC, expired, unknown visitor)."""


@dataclass
class _Publication:
    """One remote subscriber to one of our visitors."""

    sub_id: int
    address: tuple[str, int]
    visitor: str
    feeds: dict[str, Feed]
    expires_at: float
    sinks: dict[str, Callable[[Any], None]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)


class _Reassembly:
    """Rebuilds one stream's frames from chunks; reports gaps as losses."""

    def __init__(self, feed: EncodedFeed, counters: PipeCounters) -> None:
        self.feed = feed
        self.counters = counters
        self.partial: dict[int, tuple[int, int, dict[int, bytes]]] = {}
        """seq -> (timestamp, chunk count, chunks by index)."""
        self.last: int | None = None

    def add(self, seq: int, timestamp: int, index: int, count: int, payload: bytes) -> None:
        if self.last is not None and seq <= self.last:
            return  # late chunk of a frame already delivered or given up
        entry = self.partial.get(seq)
        if entry is None:
            if len(self.partial) >= MAX_PARTIAL_FRAMES:
                self.partial.pop(min(self.partial))
            entry = self.partial[seq] = (timestamp, count, {})
        entry[2][index] = payload
        if len(entry[2]) < entry[1]:
            return
        del self.partial[seq]
        data = b"".join(entry[2][i] for i in range(entry[1]))
        if self.last is not None and seq != self.last + 1:
            self.counters.frames_lost += seq - self.last - 1
            self.feed.lost()
        for older in [s for s in self.partial if s < seq]:
            del self.partial[older]
        self.last = seq
        self.counters.frames_received += 1
        self.feed.accept(data, timestamp)


class RemoteSource:
    """A visitor of another SFU process, as feeds of this one (one per kind)."""

    def __init__(self, pipe: Pipe, stream: str, endpoint: tuple[str, int], sub_id: int) -> None:
        self.pipe = pipe
        self.stream = stream
        self.endpoint = endpoint
        self.sub_id = sub_id
        self.feeds: dict[str, EncodedFeed] = {}
        self._assembly: dict[str, _Reassembly] = {}
        for kind in KIND_CODES:
            feed = EncodedFeed(kind, stream)
            feed.attach_control(_RemoteControl(pipe, endpoint, sub_id))
            self.feeds[kind] = feed
            self._assembly[kind] = _Reassembly(feed, pipe.counters)
        self.closed = False

    def on_chunk(self, kind: str, seq: int, ts: int, index: int, count: int, data: bytes) -> None:
        self._assembly[kind].add(seq, ts, index, count, data)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pipe.unsubscribe(self)
        for feed in self.feeds.values():
            await feed.close()


class _RemoteControl:
    """Keyframe requests and bandwidth estimates sent back to the publishing process."""

    def __init__(self, pipe: Pipe, endpoint: tuple[str, int], sub_id: int) -> None:
        self.pipe, self.endpoint, self.sub_id = pipe, endpoint, sub_id

    async def request_keyframe(self) -> bool:
        return self.pipe.send(_PLI.pack(MAGIC, PLI, self.sub_id), self.endpoint)

    async def send_remb(self, bitrate: int) -> bool:
        bitrate = max(0, min(bitrate, 0xFFFFFFFF))
        return self.pipe.send(_REMB.pack(MAGIC, REMB, self.sub_id, bitrate), self.endpoint)


class Pipe(asyncio.DatagramProtocol):
    """This process's end of every pipe (publisher and subscriber)."""

    def __init__(
        self, lookup: Lookup, secret: bytes | Sequence[bytes], chunk_size: int = 1200
    ) -> None:
        """``secret``: one key, or several newest first (the first signs, all verify)."""
        self.lookup = lookup
        self.secrets: tuple[bytes, ...] = (
            (secret,) if isinstance(secret, bytes) else tuple(secret)
        ) or (b"duet",)
        self.secret = self.secrets[0]
        self.chunk_size = chunk_size
        self.counters = PipeCounters()
        self.address: tuple[str, int] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._publications: dict[tuple[tuple[str, int], int], _Publication] = {}
        self._subscriptions: dict[int, RemoteSource] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int = 0) -> tuple[str, int]:
        """Bind the socket; returns the bound address."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        self.address = transport.get_extra_info("sockname")[:2]
        self._task = asyncio.ensure_future(self._maintain())
        return self.address

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for source in list(self._subscriptions.values()):
            await source.close()
        for key in list(self._publications):
            self._unpublish(key)
        if self._transport is not None:
            self._transport.close()

    # --- subscriber side --------------------------------------------------------------

    def subscribe(self, stream: str, endpoint: tuple[str, int]) -> RemoteSource:
        """Start pulling visitor ``stream`` from the process at ``endpoint``."""
        sub_id = secrets.randbits(32)
        while sub_id in self._subscriptions:
            sub_id = secrets.randbits(32)
        source = RemoteSource(self, stream, endpoint, sub_id)
        self._subscriptions[sub_id] = source
        self._send_sub(source)
        return source

    def unsubscribe(self, source: RemoteSource) -> None:
        if self._subscriptions.pop(source.sub_id, None) is not None:
            mac = _mac(self.secret, b"unsub", str(source.sub_id).encode())
            self.send(_UNSUB.pack(MAGIC, UNSUB, source.sub_id, mac), source.endpoint)

    def _send_sub(self, source: RemoteSource) -> None:
        expires = int(time.time() + SUB_TTL)
        stream = source.stream.encode()
        mac = _mac(self.secret, b"sub", str(source.sub_id).encode(), str(expires).encode(), stream)
        header = _SUB_HEADER.pack(MAGIC, SUB, source.sub_id, expires, mac)
        self.send(header + stream, source.endpoint)

    # --- datagrams --------------------------------------------------------------------

    def send(self, data: bytes, address: tuple[str, int]) -> bool:
        if self._transport is None or self._transport.is_closing():
            return False
        self._transport.sendto(data, address)
        return True

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 4 or data[:3] != MAGIC:
            return
        try:
            kind = data[3]
            if kind == FRAME:
                self._on_frame(data)
            elif kind == SUB:
                self._on_sub(data, addr)
            elif kind == PLI:
                self._on_pli(data, addr)
            elif kind == REMB:
                self._on_remb(data, addr)
            elif kind == UNSUB:
                self._on_unsub(data, addr)
        except (struct.error, UnicodeDecodeError, KeyError, ValueError):
            return  # malformed: ignore

    def error_received(self, exc: Exception) -> None:
        logger.debug("pipe socket error: %s", exc)

    def _on_frame(self, data: bytes) -> None:
        _, _, sub_id, kind, seq, ts, _flags, index, count = _FRAME_HEADER.unpack_from(data)
        source = self._subscriptions.get(sub_id)
        if source is None or count == 0 or index >= count:
            return
        source.on_chunk(KINDS_BY_CODE[kind], seq, ts, index, count, data[_FRAME_HEADER.size :])

    def _on_sub(self, data: bytes, addr: tuple[str, int]) -> None:
        _, _, sub_id, expires, mac = _SUB_HEADER.unpack_from(data)
        stream = data[_SUB_HEADER.size :]
        parts = (b"sub", str(sub_id).encode(), str(expires).encode(), stream)
        genuine = any(hmac.compare_digest(mac, _mac(key, *parts)) for key in self.secrets)
        if not genuine or expires < time.time():
            self.counters.refused += 1
            return
        key = (addr, sub_id)
        publication = self._publications.get(key)
        if publication is not None:
            publication.expires_at = time.monotonic() + SUB_TTL
            return
        visitor = stream.decode()
        feeds = self.lookup(visitor)
        if feeds is None:
            self.counters.refused += 1
            return
        publication = _Publication(sub_id, addr, visitor, feeds, time.monotonic() + SUB_TTL)
        for kind, feed in feeds.items():
            if kind not in KIND_CODES:
                continue
            sink = self._sink(publication, kind)
            publication.sinks[kind] = sink
            publication.seq[kind] = 0
            feed.subscribe(sink)
        self._publications[key] = publication
        feeds["video"].request_keyframe()  # the subscriber can only start from a keyframe

    def _sink(self, publication: _Publication, kind: str) -> Callable[[Any], None]:
        code = KIND_CODES[kind]
        size = self.chunk_size

        def sink(frame: EncodedFrame) -> None:
            publication.seq[kind] += 1
            seq = publication.seq[kind]
            data = frame.data
            count = max(1, -(-len(data) // size))
            flags = 1 if frame.keyframe else 0
            for index in range(count):
                chunk = data[index * size : (index + 1) * size]
                header = _FRAME_HEADER.pack(
                    MAGIC,
                    FRAME,
                    publication.sub_id,
                    code,
                    seq,
                    frame.timestamp & 0xFFFFFFFF,
                    flags,
                    index,
                    count,
                )
                self.send(header + chunk, publication.address)
                self.counters.datagrams_sent += 1
                self.counters.bytes_sent += len(header) + len(chunk)
            self.counters.frames_sent += 1

        return sink

    def _publication(self, data: bytes, addr: tuple[str, int]) -> _Publication | None:
        sub_id = struct.unpack_from("!I", data, 4)[0]
        return self._publications.get((addr, sub_id))

    def _on_pli(self, data: bytes, addr: tuple[str, int]) -> None:
        publication = self._publication(data, addr)
        if publication is not None:
            publication.feeds["video"].request_keyframe()

    def _on_remb(self, data: bytes, addr: tuple[str, int]) -> None:
        publication = self._publication(data, addr)
        if publication is not None:
            _, _, _, bitrate = _REMB.unpack_from(data)
            publication.feeds["video"].offer_remb(bitrate)

    def _on_unsub(self, data: bytes, addr: tuple[str, int]) -> None:
        _, _, sub_id, mac = _UNSUB.unpack_from(data)
        parts = (b"unsub", str(sub_id).encode())
        if any(hmac.compare_digest(mac, _mac(key, *parts)) for key in self.secrets):
            self._unpublish((addr, sub_id))

    def rebind(self, visitor: str) -> None:
        """``visitor`` has a new peer connection (or none): subscribers follow it."""
        feeds = self.lookup(visitor)
        for key, publication in list(self._publications.items()):
            if publication.visitor != visitor:
                continue
            for kind, sink in publication.sinks.items():
                publication.feeds[kind].unsubscribe(sink)
            if feeds is None:
                self._publications.pop(key, None)
                continue
            publication.feeds = feeds
            for kind, sink in publication.sinks.items():
                feeds[kind].subscribe(sink)
            feeds["video"].request_keyframe()

    def _unpublish(self, key: tuple[tuple[str, int], int]) -> None:
        publication = self._publications.pop(key, None)
        if publication is None:
            return
        for kind, sink in publication.sinks.items():
            publication.feeds[kind].unsubscribe(sink)

    async def _maintain(self) -> None:
        """Refresh our subscriptions and drop lapsed publications, every second."""
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            for source in list(self._subscriptions.values()):
                self._send_sub(source)
            now = time.monotonic()
            for key, publication in list(self._publications.items()):
                if publication.expires_at < now:
                    self._unpublish(key)
