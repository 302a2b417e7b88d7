"""Pure RTP bookkeeping for packet forwarding (``forwarding = "packets"``, :mod:`sfu.packets`).

Nothing here touches aiortc or the network, so each rule is unit-tested on its own:

- :func:`vp8_frame_start` / :func:`vp8_keyframe_start` read the VP8 payload descriptor
  (RFC 7741 section 4.2) and the VP8 frame tag behind it (RFC 6386 section 9.1);
- :class:`StreamRewriter` maps each source's sequence numbers and timestamps into one
  outbound stream across switches of source (Next): continuous, or after a chosen gap in
  the sequence numbers; with 16-bit and 32-bit wraparound;
- :class:`PacketHistory` keeps the last packets sent on a stream, to answer NACKs;
- :class:`LossTracker` notices gaps in a source's sequence numbers and says when to NACK
  (again) for each missing packet, a bounded number of times.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Generic, TypeVar

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

T = TypeVar("T")


NTP_UNIX_OFFSET = 2_208_988_800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""


def abs_send_time(unix_time: float) -> int:
    """The abs-send-time header extension value (6.18 fixed-point seconds, 24 bits) of a
    Unix time: what aiortc computes as ``(current_ntp_time() >> 14) & 0xFFFFFF``."""
    return int((unix_time + NTP_UNIX_OFFSET) * (1 << 18)) & 0xFFFFFF


def seq_newer(a: int, b: int) -> bool:
    """Whether 16-bit sequence number ``a`` comes after ``b`` (RFC 3550 serial arithmetic)."""
    return a != b and ((a - b) % SEQ_MOD) < SEQ_MOD // 2


def _vp8_descriptor_length(payload: bytes) -> int | None:
    """Length of the VP8 payload descriptor at the start of ``payload`` (None: truncated)."""
    if not payload:
        return None
    size = 1
    if payload[0] & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            return None
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits (M flag)
            if len(payload) <= size:
                return None
            size += 2 if payload[size] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX byte
            size += 1
    return size if size <= len(payload) else None


def vp8_frame_start(payload: bytes) -> bool:
    """Whether this RTP payload starts a VP8 frame (S bit set and partition index 0)."""
    return bool(payload) and (payload[0] & 0x10) != 0 and (payload[0] & 0x0F) == 0


def vp8_keyframe_start(payload: bytes) -> bool:
    """Whether this RTP payload is the first packet of a VP8 keyframe: it starts a frame
    and the frame tag's inverse key frame flag (P, bit 0 of its first byte) is 0."""
    if not vp8_frame_start(payload):
        return False
    size = _vp8_descriptor_length(payload)
    return size is not None and size < len(payload) and not payload[size] & 0x01


class StreamRewriter:
    """One outbound RTP stream fed by a succession of sources.

    Within one source the mapping is a fixed offset (modulo 2**16 and 2**32), so reordered
    and retransmitted packets keep their place. At the first packet of a new source
    (:meth:`start_source`) the offsets are chosen so that the sequence number follows the
    last one sent by exactly one (plus ``skip``, if asked) and the
    timestamp advances by ``ts_step`` (about one frame). Packets of the current source older
    than its first forwarded one belong to before the switch: they are refused.

    ``compact`` (audio, which is not NACKed): sequence numbers are given out one by one
    instead, so a packet lost before the SFU leaves no gap a receiver would wait on (aiortc's
    receiver holds its audio until the gap fills or 16 packets pass); a packet older than
    the newest one forwarded (reordered, or a duplicate) is refused. Timestamps keep the
    fixed offset either way."""

    def __init__(
        self,
        ts_step: int,
        first_seq: int | None = None,
        first_ts: int | None = None,
        compact: bool = False,
    ) -> None:
        self.ts_step = ts_step
        self.compact = compact
        self._source_last: int | None = None
        self._next_seq = random.randrange(SEQ_MOD) if first_seq is None else first_seq
        self._next_ts = random.randrange(TS_MOD) if first_ts is None else first_ts
        self._seq_offset = 0
        self._ts_offset = 0
        self._base: int | None = None
        """The first source sequence number forwarded since the last switch."""
        self._last_seq: int | None = None
        """Highest outbound sequence number sent so far."""
        self._last_ts: int | None = None
        """Outbound timestamp of that packet."""

    @property
    def mapped(self) -> bool:
        """Whether a packet of the current source has been mapped (offsets are known)."""
        return self._base is not None

    @property
    def last_seq(self) -> int | None:
        return self._last_seq

    def continue_after(self, seq: int, ts: int) -> None:
        """Another numbering (the sender's own packets) last sent ``(seq, ts)`` on this
        stream: the next source starts after it."""
        self._last_seq, self._last_ts = seq % SEQ_MOD, ts % TS_MOD

    def start_source(self, skip: int = 0) -> None:
        """The next packet is the first of a new source (or of the same source after an
        unrecoverable loss). ``skip``: sequence numbers to leave out before it, to make a
        receiver drop what it holds of the stream so far (see
        ``sfu.aiortc_hooks.SEQUENCE_GAP``); 0 keeps the stream continuous."""
        if self._last_seq is not None:
            assert self._last_ts is not None
            self._next_seq = (self._last_seq + 1 + skip) % SEQ_MOD
            self._next_ts = (self._last_ts + self.ts_step) % TS_MOD
        self._base = None

    def rewrite(self, seq: int, ts: int) -> tuple[int, int] | None:
        """The outbound ``(sequence number, timestamp)`` of a source packet, or ``None``
        for a packet from before the current source's first forwarded one."""
        if self._base is None:
            self._base = self._source_last = seq
            self._seq_offset = (self._next_seq - seq) % SEQ_MOD
            self._ts_offset = (self._next_ts - ts) % TS_MOD
        elif self.compact:
            assert self._source_last is not None and self._last_seq is not None
            if not seq_newer(seq, self._source_last):
                return None
            self._source_last = seq
            self._seq_offset = (self._last_seq + 1 - seq) % SEQ_MOD
        elif seq != self._base and not seq_newer(seq, self._base):
            return None
        out_seq = (seq + self._seq_offset) % SEQ_MOD
        out_ts = (ts + self._ts_offset) % TS_MOD
        if self._last_seq is None or seq_newer(out_seq, self._last_seq):
            self._last_seq, self._last_ts = out_seq, out_ts
        return out_seq, out_ts

    def timestamp(self, ts: int) -> int | None:
        """The outbound timestamp of source timestamp ``ts`` (for Sender Reports), or
        ``None`` before the current source's first packet was mapped."""
        if self._base is None:
            return None
        return (ts + self._ts_offset) % TS_MOD

    def source_seq(self, out_seq: int) -> int | None:
        """The current source's sequence number behind outbound ``out_seq`` (to relay a
        NACK upstream), or ``None`` if it was sent before the current source (or the
        stream is ``compact``)."""
        if self._base is None or self.compact:
            return None
        seq = (out_seq - self._seq_offset) % SEQ_MOD
        if seq != self._base and not seq_newer(seq, self._base):
            return None
        return seq


class PacketHistory(Generic[T]):
    """The last ``size`` packets sent on one stream, by outbound sequence number."""

    def __init__(self, size: int = 512) -> None:
        if size <= 0:
            raise ValueError("history size must be positive")
        self._size = size
        self._slots: list[tuple[int, T] | None] = [None] * size

    @property
    def size(self) -> int:
        return self._size

    def put(self, seq: int, packet: T) -> None:
        self._slots[seq % self._size] = (seq, packet)

    def get(self, seq: int) -> T | None:
        slot = self._slots[seq % self._size]
        return slot[1] if slot is not None and slot[0] == seq else None

    def clear(self) -> None:
        self._slots = [None] * self._size


class LossTracker:
    """Missing sequence numbers of one source, and when to ask for each again (NACK).

    ``retry_s``: seconds between two NACKs for one packet; ``tries``: NACKs per packet
    before giving up (the caller then requests a keyframe); ``limit``: most packets tracked
    at once (a longer gap is not worth NACKing: request a keyframe instead). Times are
    passed in (seconds, any monotonic clock), which keeps this class pure."""

    def __init__(self, retry_s: float = 0.05, tries: int = 4, limit: int = 128) -> None:
        self.retry_s = retry_s
        self.tries = tries
        self.limit = limit
        self._highest: int | None = None
        self._missing: dict[int, tuple[float, int]] = {}
        """seq -> (when it was last NACKed, NACKs so far)."""
        self.recovered = 0
        """Missing packets that arrived later (retransmitted or reordered)."""
        self.abandoned = 0
        """Missing packets given up on (too many tries, or too long a gap)."""

    @property
    def missing(self) -> list[int]:
        return sorted(self._missing)

    def received(self, seq: int, now: float) -> tuple[list[int], bool]:
        """Note a received packet. Returns the newly missing sequence numbers (NACK them
        now) and whether packets were abandoned (a gap too long to recover by NACK)."""
        if self._highest is None:
            self._highest = seq
            return [], False
        if not seq_newer(seq, self._highest):
            if self._missing.pop(seq, None) is not None:
                self.recovered += 1
            return [], False
        gap = (seq - self._highest) % SEQ_MOD - 1
        self._highest = seq
        if gap == 0:
            return [], False
        if gap > self.limit:
            self.abandoned += gap + len(self._missing)
            self._missing.clear()
            return [], True
        new = [(seq - gap + i) % SEQ_MOD for i in range(gap)]
        for lost in new:
            self._missing[lost] = (now, 1)
        overflow = len(self._missing) - self.limit
        if overflow > 0:
            for old in sorted(self._missing, key=lambda s: (s - seq) % SEQ_MOD)[:overflow]:
                del self._missing[old]
            self.abandoned += overflow
            return new, True
        return new, False

    def due(self, now: float) -> tuple[list[int], bool]:
        """Missing packets to NACK again now, and whether some were just abandoned."""
        again: list[int] = []
        gave_up = False
        for seq, (last, tries) in list(self._missing.items()):
            if now - last < self.retry_s:
                continue
            if tries >= self.tries:
                del self._missing[seq]
                self.abandoned += 1
                gave_up = True
            else:
                self._missing[seq] = (now, tries + 1)
                again.append(seq)
        return again, gave_up

    def forget(self, seqs: Iterable[int]) -> None:
        for seq in seqs:
            self._missing.pop(seq, None)

    def reset(self) -> None:
        self._highest = None
        self._missing.clear()
