"""Frame checks over a Redis stream, for classifier workers on any host (``duet worker``).

With ``moderation.remote_workers`` a node does not run classifier processes itself: each
check becomes an entry of the stream ``{prefix}checks`` (the frame as a JPEG, plus where to
put the verdict), and ``duet worker`` processes anywhere read it through one consumer group,
so each check is taken by exactly one worker. A worker classifies the frame in its own
:class:`~moderation.workers.WorkerPool`, stores the verdict (a list the node is blocked on,
with a short TTL) and only then acknowledges the entry. Entries a dead worker had taken but
never acknowledged are claimed by the others after ``reclaim_after`` seconds
(``XAUTOCLAIM``); after ``max_deliveries`` attempts an entry is dropped and logged.

Evidence is written by the node: it keeps the frame and the policy decision, and records
evidence before any ban is announced (see :mod:`moderation.sanctions`). What a worker must
store before acknowledging is its verdict.

Frames of users never linger in Redis: a worker deletes the entry (``XDEL``) in the same
transaction that stores the verdict; the node deletes its entry once it has the verdict
or gave up (``check_timeout_s``), and trims entries older than ``check_timeout_s`` plus
:data:`FRAME_MARGIN_S` by Redis's own clock (``XTRIM MINID``: those of a node that died
mid-check) on every check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from duet.tasks import TaskSet
from moderation.clock import SYSTEM_CLOCK, Clock
from moderation.errors import CheckTimedOut, NoWorker
from moderation.frames import BgrFrame
from moderation.verdict import Verdict, coerce_verdict
from moderation.workers import WorkerPool

logger = logging.getLogger(__name__)

GROUP = "duet-workers"
JPEG_QUALITY = 95
RESULT_TTL_S = 60
FRAME_MARGIN_S = 5.0
"""A frame entry outlives its node's ``check_timeout_s`` by at most this much."""


def encode_frame(frame: BgrFrame) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded")
    return bytes(data)


def decode_frame(data: bytes) -> BgrFrame:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the frame could not be decoded")
    return np.asarray(image, dtype=np.uint8)


class StreamChecker:
    """The node side: a :class:`~moderation.ports.FrameChecker` that asks ``duet worker``."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "duet:",
        timeout: float = 2.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.stream = prefix + "checks"
        self.prefix = prefix
        self.timeout = timeout

    async def classify(self, frame: BgrFrame) -> Verdict:
        job = secrets.token_hex(8)
        reply = f"{self.prefix}verdict:{job}"
        data = await asyncio.to_thread(encode_frame, frame)
        try:
            entry = await self.redis.xadd(
                self.stream,
                {"job": job, "frame": data, "reply": reply},
                maxlen=10_000,
                approximate=True,
            )
            try:
                answer = await self._wait(reply)
            finally:
                await self._forget(entry)
        except (ConnectionError, OSError) as exc:
            raise NoWorker("unavailable") from exc
        if answer is None:
            raise CheckTimedOut(f"no verdict from any duet worker within {self.timeout} s")
        return verdict_from_json(answer)

    async def _forget(self, entry: Any) -> None:
        """Delete this check's frame, and any older than the timeout plus a margin."""
        with contextlib.suppress(ConnectionError, OSError):
            await self.redis.xdel(self.stream, entry)
            stamp = int(_text(entry).split("-", 1)[0])
            keep_ms = int((self.timeout + FRAME_MARGIN_S) * 1000)
            minid = str(max(0, stamp - keep_ms))
            await self.redis.xtrim(self.stream, minid=minid, approximate=False)

    async def _wait(self, reply: str) -> bytes | str | None:
        """BLPOP in one-second slices (below any client socket timeout) until ``timeout``."""
        deadline = self.clock.now() + self.timeout
        while True:
            left = deadline - self.clock.now()
            if left <= 0:
                return None
            answer = await self.redis.blpop([reply], timeout=min(1.0, max(0.01, left)))
            if answer is not None:
                value: bytes | str = answer[1]
                return value


def verdict_to_json(verdict: Verdict) -> str:
    return json.dumps(verdict.to_dict(), separators=(",", ":"))


def verdict_from_json(data: bytes | str) -> Verdict:
    return coerce_verdict(json.loads(data))


@dataclass
class WorkerStats:
    handled: int = 0
    reclaimed: int = 0
    failed: int = 0
    dropped: int = 0


class StreamWorker:
    """``duet worker``: consumes checks with a pool of classifier processes."""

    def __init__(
        self,
        redis: Redis,
        pool: WorkerPool,
        prefix: str = "duet:",
        name: str | None = None,
        reclaim_after: float = 10.0,
        max_deliveries: int = 3,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.pool = pool
        self.stream = prefix + "checks"
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.reclaim_after = reclaim_after
        self.max_deliveries = max_deliveries
        self.stats = WorkerStats()
        self._slots = asyncio.Semaphore(pool.size)
        self._tasks = TaskSet()

    async def run(self) -> None:
        """Consume until cancelled."""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        reclaimer = asyncio.ensure_future(self._reclaim_forever())
        try:
            while True:
                await self._slots.acquire()
                entries: Any = await self.redis.xreadgroup(
                    GROUP, self.name, {self.stream: ">"}, count=1, block=1000
                )
                if not entries:
                    self._slots.release()
                    continue
                for _stream, items in entries:
                    for entry_id, fields in items:
                        self._handle_soon(entry_id, fields)
        finally:
            reclaimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reclaimer
            self._tasks.cancel()

    def _handle_soon(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        self._tasks.spawn(self._handle(entry_id, fields))

    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        try:
            reply = _text(fields.get(b"reply") or fields.get("reply"))
            frame = await asyncio.to_thread(
                decode_frame, fields.get(b"frame") or fields.get("frame") or b""
            )
            verdict = await self.pool.classify(frame)
            # Acknowledged, and the frame deleted, only once the verdict is stored (one
            # transaction: the frame never outlives its verdict).
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(reply, verdict_to_json(verdict))
                pipe.expire(reply, RESULT_TTL_S)
                pipe.xack(self.stream, GROUP, entry_id)
                pipe.xdel(self.stream, entry_id)
                await pipe.execute()
            self.stats.handled += 1
        except Exception as exc:
            # Not acknowledged: another worker (or this one) claims it again later.
            self.stats.failed += 1
            logger.warning("check %s failed (%s); it will be claimed again", entry_id, exc)
        finally:
            self._slots.release()

    async def _reclaim_forever(self) -> None:
        while True:
            await self.clock.sleep(max(0.5, self.reclaim_after / 2))
            try:
                await self.reclaim()
            except (ConnectionError, OSError, ResponseError) as exc:
                logger.warning("reclaiming checks failed: %s", exc)

    async def reclaim(self) -> int:
        """Take over checks other workers took but never acknowledged."""
        min_idle = int(self.reclaim_after * 1000)
        claimed = 0
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.stream, GROUP, self.name, min_idle_time=min_idle, start_id=start, count=10
            )
            start, items = _text(reply[0]), reply[1]
            for entry_id, fields in items:
                if fields is None:
                    continue
                deliveries = await self._deliveries(entry_id)
                if deliveries > self.max_deliveries:
                    await self.redis.xack(self.stream, GROUP, entry_id)
                    await self.redis.xdel(self.stream, entry_id)
                    self.stats.dropped += 1
                    logger.error("check %s dropped after %d deliveries", entry_id, deliveries)
                    continue
                claimed += 1
                self.stats.reclaimed += 1
                await self._slots.acquire()
                self._handle_soon(entry_id, fields)
            if start == "0-0" or not items:
                return claimed

    async def _deliveries(self, entry_id: Any) -> int:
        pending = await self.redis.xpending_range(
            self.stream, GROUP, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
