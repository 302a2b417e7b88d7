"""``/ws``: one WebSocket per browser tab, as an explicit state machine.

States: *accepted* -> *open* (reading messages, a writer task draining the outbox) ->
*closing* (cleanup in ``finally``: the lobby forgets the visitor, the writer stops).
A message that cannot be parsed or is not allowed now is answered with an ``error`` event
and the connection stays open; only a visitor too slow to read its events is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from signaling.lobby import Lobby
from signaling.protocol import ProtocolError, parse_client_message
from signaling.visitor import CLOSE_POLICY, Visitor

logger = logging.getLogger(__name__)


async def websocket_endpoint(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    lobby: Lobby = services.lobby
    max_bytes: int = services.settings.max_message_bytes
    await websocket.accept()
    ip = websocket.client.host if websocket.client else "unknown"
    # A banned visitor who comes back hears ``banned`` again and is not let in.
    ban = await services.moderation.active_ban(ip)
    if ban is not None:
        event = await services.appeals.banned_event(ban)
        with contextlib.suppress(Exception):
            await websocket.send_text(event.dump())
            await websocket.close(code=CLOSE_POLICY)
        return
    visitor = lobby.connect(ip)
    writer = asyncio.ensure_future(_write(websocket, visitor))
    try:
        while visitor.alive:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw: str | bytes | None = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            if len(raw) > max_bytes:
                lobby.refuse(visitor, "too_large", f"messages are limited to {max_bytes} bytes")
                continue
            try:
                parsed = parse_client_message(raw)
            except ProtocolError as exc:
                lobby.refuse(visitor, exc.code, exc.message)
                continue
            try:
                await lobby.handle(visitor, parsed)
            except Exception:
                logger.exception("message handling failed", extra={"visitor": visitor.id})
                lobby.refuse(visitor, "internal", "the server failed to handle that")
    except WebSocketDisconnect:
        pass
    finally:
        await lobby.disconnect(visitor)
        await _stop_writer(writer, visitor)
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=visitor.close_code or 1000)


async def _write(websocket: WebSocket, visitor: Visitor) -> None:
    """Send queued events in order until the ``None`` sentinel (closing on overflow)."""
    while True:
        text = await visitor.outbox.get()
        if text is None:
            if visitor.close_code is not None:
                with contextlib.suppress(Exception):
                    await websocket.close(code=visitor.close_code)
            return
        try:
            await websocket.send_text(text)
        except Exception:
            return


async def _stop_writer(writer: asyncio.Future[None], visitor: Visitor) -> None:
    """Let the writer flush what is queued (briefly), then stop it."""
    with contextlib.suppress(asyncio.QueueFull):
        visitor.outbox.put_nowait(None)
    try:
        await asyncio.wait_for(asyncio.shield(writer), timeout=1.0)
    except (TimeoutError, asyncio.CancelledError):
        writer.cancel()
