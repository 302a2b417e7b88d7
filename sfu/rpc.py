"""A small request/response channel between the signaling process and an SFU worker.

Messages are length-prefixed pickles over a private socket pair (both ends are Duet code
started by Duet; nothing else can connect). Three kinds:

- ``("req", id, method, args)`` -> ``("res", id, ok, value_or_error)``
- ``("evt", name, args)``: one-way notifications (load reports).

Requests are dispatched in arrival order, each in its own task, so the synchronous start
of each handler (creating a peer, switching a track) happens in the order the caller sent
them even though their awaits interleave. Errors travel as ``(type name, message)`` and are
raised again on the caller's side as :class:`RemoteError` (or ``KeyError``/``BadSdp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from duet.tasks import TaskSet
from sfu.peer import BadSdp

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
MAX_MESSAGE = 64 * 1024 * 1024

Handler = Callable[[str, tuple[Any, ...]], Awaitable[Any]]
EventHandler = Callable[[str, tuple[Any, ...]], None]


class RemoteError(Exception):
    """The other side raised an exception we have no local equivalent for."""


class ChannelClosed(ConnectionError):
    """The other process went away (or closed the channel)."""


def _rebuild(kind: str, message: str) -> Exception:
    if kind == "BadSdp":
        return BadSdp(message)
    if kind == "KeyError":
        return KeyError(message)
    return RemoteError(f"{kind}: {message}")


class Channel:
    """One end of a worker channel."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._handler = handler
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._tasks = TaskSet()
        self.closed = False

    async def call(self, method: str, *args: Any, timeout: float = 30.0) -> Any:
        """Run ``method(*args)`` on the other side and return its result."""
        if self.closed:
            raise ChannelClosed("the channel is closed")
        request = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        try:
            self._send(("req", request, method, args))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request, None)

    def notify(self, name: str, *args: Any) -> None:
        if not self.closed:
            self._send(("evt", name, args))

    async def serve(self) -> None:
        """Read messages until the other side goes away."""
        try:
            while True:
                header = await self._reader.readexactly(_LENGTH.size)
                (size,) = _LENGTH.unpack(header)
                if size > MAX_MESSAGE:
                    raise ChannelClosed(f"message of {size} bytes refused")
                message = pickle.loads(await self._reader.readexactly(size))
                self._dispatch(message)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._close_pending()

    async def close(self) -> None:
        self.closed = True
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._close_pending()

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "res":
            _, request, ok, value = message
            future = self._pending.get(request)
            if future is not None and not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(_rebuild(*value))
        elif kind == "req" and self._handler is not None:
            call = self._handler(message[2], message[3])
            self._tasks.spawn(self._answer(message[1], call))
        elif kind == "evt" and self._on_event is not None:
            try:
                self._on_event(message[1], message[2])
            except Exception:
                logger.exception("event handler failed for %s", message[1])

    async def _answer(self, request: int, call: Awaitable[Any]) -> None:
        try:
            value = await call
        except Exception as exc:
            self._send(("res", request, False, (type(exc).__name__, str(exc))))
        else:
            self._send(("res", request, True, value))

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._writer.is_closing():
            raise ChannelClosed("the channel is closed")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LENGTH.pack(len(data)) + data)

    def _close_pending(self) -> None:
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed("the other process went away"))
        self._pending.clear()
