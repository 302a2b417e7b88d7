"""The socket writer: events about a match change wait for the media wiring they follow."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocketState

from signaling.protocol import PartnerLeftEvent
from signaling.room.visitor import Visitor
from signaling.service.ws import Closer, _write


class Socket:
    """Starlette's ``WebSocket`` as the writer sees it. ``room`` stands for uvicorn's
    flow control: nothing (a close frame included) is written while the client does not
    read."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: list[int] = []
        self.application_state = WebSocketState.CONNECTED
        self.room = asyncio.Event()
        self.room.set()

    async def send_text(self, text: str) -> None:
        await self.room.wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.application_state = WebSocketState.DISCONNECTED  # as Starlette does, first
        await self.room.wait()
        self.closed.append(code)


async def test_partner_left_is_sent_only_once_the_media_is_switched() -> None:
    visitor = Visitor(id="v_1", ip="10.0.0.1", outbox=asyncio.Queue(maxsize=8))
    socket = Socket()
    switched: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    writer = asyncio.ensure_future(_write(socket, visitor, Closer(socket)))  # type: ignore[arg-type]
    visitor.media_barrier = switched
    visitor.send(PartnerLeftEvent(reason="next"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert socket.sent == []  # the previous partner's frames may still be flowing
    switched.set_result(None)
    for _ in range(20):
        await asyncio.sleep(0)
    assert [e for e in socket.sent if '"partner_left"' in e]
    visitor.outbox.put_nowait(None)
    await writer


async def test_a_failed_wiring_does_not_hold_events_back(monkeypatch: Any) -> None:
    monkeypatch.setattr("signaling.service.ws.MEDIA_BARRIER_S", 0.01)
    visitor = Visitor(id="v_1", ip="10.0.0.1", outbox=asyncio.Queue(maxsize=8))
    socket = Socket()
    visitor.media_barrier = asyncio.get_running_loop().create_future()  # never done
    visitor.send(PartnerLeftEvent(reason="next"))
    visitor.outbox.put_nowait(None)
    await asyncio.wait_for(_write(socket, visitor, Closer(socket)), 5)  # type: ignore[arg-type]
    assert len(socket.sent) == 1


async def test_a_close_waiting_for_the_client_survives_the_writer_being_stopped() -> None:
    # Under a flood the client reads slowly: the writer's close waits for room in the
    # transport, and the endpoint stops the writer meanwhile. The close frame must still
    # go out once the client reads (it used to be cancelled with the writer, and the
    # connection dropped without one: the client saw 1006).
    visitor = Visitor(id="v_1", ip="10.0.0.1", outbox=asyncio.Queue(maxsize=8))
    socket = Socket()
    socket.room.clear()
    closer = Closer(socket)  # type: ignore[arg-type]
    visitor.close(1013)
    writer = asyncio.ensure_future(_write(socket, visitor, closer))  # type: ignore[arg-type]
    for _ in range(10):
        await asyncio.sleep(0)
    writer.cancel()
    socket.room.set()  # the client reads again
    await closer.finish(1000)
    assert socket.closed == [1013]


async def test_the_close_frame_is_sent_once() -> None:
    socket = Socket()
    closer = Closer(socket)  # type: ignore[arg-type]
    await closer.start(1008)
    await closer.finish(1000)
    assert socket.closed == [1008]
