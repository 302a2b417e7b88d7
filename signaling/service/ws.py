"""``/ws``: one WebSocket per browser tab, as an explicit state machine.

States: *accepted* -> *admitted* (origin allowed, connection rate within limits, a valid
session token, not banned) -> *open* (reading messages, a writer task draining the
outbox) -> *closing* (cleanup in ``finally``: the lobby forgets the visitor, the writer
stops). A socket refused at admission gets one ``error`` event (or ``banned``) and a
close code with a reason (see ``docs/protocol.md``). A message that cannot be parsed or
is not allowed now is answered with an ``error`` event and the connection stays open; a
visitor too slow to read its events, silent for ``door.idle_timeout_s``, or breaking the
chat limits again and again is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from signaling.door.appeals import owns
from signaling.door.gate import Door
from signaling.door.resume import resumed_visitor
from signaling.door.sessions import Claims
from signaling.protocol import ErrorEvent, ProtocolError, parse_client_message
from signaling.room.lobby import Lobby
from signaling.room.visitor import CLOSE_POLICY, Visitor
from signaling.service.failures import FailureLog
from signaling.service.services import active_ban

logger = logging.getLogger(__name__)

FAILURES = FailureLog(logger)
"""Unexpected failures while handling frames: logged once per kind per minute."""

CLOSE_WAIT_S = 10.0
"""How long a closing socket waits for a client that reads nothing (uvicorn's own closing
handshake timeout is 10 s too)."""

MEDIA_BARRIER_S = 2.0
"""Longest an event waits for the media wiring it follows (a hung SFU worker must not
hold a visitor's events back for longer)."""

CLOSE_IDLE = 4408
"""Nothing received for ``door.idle_timeout_s``."""


@dataclass(frozen=True)
class Refusal:
    """Why a socket is not admitted: close ``code`` and stable ``reason``."""

    code: int
    reason: str
    message: str


ORIGIN_REFUSED = Refusal(4403, "origin_not_allowed", "this page may not connect to Duet")
TOO_MANY = Refusal(4429, "rate_limited", "too many connections from your address: wait a minute")
NO_SESSION = Refusal(4401, "session_required", "get a session first (POST /api/session)")
BAD_SESSION = Refusal(4401, "session_invalid", "your session is invalid or expired: get a new one")


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Browsers always send Origin: it must be listed, or (empty list) be the page's own
    host. Clients without one (not browsers) cannot be attacked this way and are let in."""
    if origin is None:
        return True
    if allowed:
        return origin.rstrip("/") in {o.rstrip("/") for o in allowed}
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


async def websocket_endpoint(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    lobby: Lobby = services.lobby
    door: Door = services.door
    settings = services.settings
    max_bytes: int = settings.max_message_bytes
    idle_timeout: float = settings.door.idle_timeout_s
    await websocket.accept()
    ip = websocket.client.host if websocket.client else "unknown"
    refusal = await _gate(websocket, door, ip)
    claims = None if refusal is not None else _claims(websocket, door)
    if refusal is None:
        # A banned visitor who comes back hears ``banned`` again and is not let in (with
        # or without a session: the IP alone may be banned).
        session = None if claims is None else claims.session
        device = None if claims is None else claims.device
        ban = await active_ban(services, ip, session, device)
        if ban is not None:
            door.outcomes["ws:banned"] += 1
            # The appeal token only for the banned person, never their IP neighbours.
            event = await services.appeals.banned_event(ban, owner=owns(ban, session, device))
            with contextlib.suppress(Exception):
                await websocket.send_text(event.dump())
                await websocket.close(code=CLOSE_POLICY)
            return
        if claims is None:
            token = _token(websocket, door)
            refusal = NO_SESSION if not token else BAD_SESSION
    if refusal is not None or claims is None:
        await _refuse(websocket, door, refusal or NO_SESSION)
        return
    door.outcomes["ws:admitted"] += 1
    resumed = resumed_visitor(
        services.keys.raw,
        websocket.query_params.get("resume"),
        claims.session,
    )
    visitor = lobby.connect(
        ip, session=claims.session, device=claims.device, name=claims.name, visitor_id=resumed
    )
    closer = Closer(websocket)
    writer = asyncio.ensure_future(_write(websocket, visitor, closer))
    try:
        while visitor.alive:
            try:
                message = await asyncio.wait_for(websocket.receive(), idle_timeout)
            except TimeoutError:
                visitor.close(CLOSE_IDLE)
                break
            if message["type"] == "websocket.disconnect":
                break
            raw: str | bytes | None = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            await process_frame(lobby, visitor, raw, max_bytes)
    except WebSocketDisconnect:
        pass
    finally:
        await lobby.disconnect(visitor)
        await _stop_writer(writer, visitor)
        await closer.finish(visitor.close_code or 1000)


async def process_frame(lobby: Lobby, visitor: Visitor, raw: str | bytes, max_bytes: int) -> None:
    """One inbound frame: size check, parse, handle. Never raises: a refused frame gets an
    ``error`` with its code; anything unexpected is ``internal`` and logged (rate-limited:
    see :data:`FAILURES`)."""
    parsed = None
    try:
        if len(raw) > max_bytes:
            lobby.refuse(visitor, "too_large", f"messages are limited to {max_bytes} bytes")
            return
        try:
            parsed = parse_client_message(raw)
        except ProtocolError as exc:
            lobby.refuse(visitor, exc.code, exc.message)
            return
        await lobby.handle(visitor, parsed)
    except Exception as exc:
        kind = "a frame" if parsed is None else f"a {parsed.type!r} message"
        FAILURES.failed(exc, f"handling {kind} failed", visitor=visitor.id)
        lobby.refuse(visitor, "internal", "the server failed to handle that")


async def _gate(websocket: WebSocket, door: Door, ip: str) -> Refusal | None:
    """Origin and connection rate: the checks before the session is looked at."""
    headers = websocket.headers
    allowed = door.settings.allowed_origins
    if not origin_allowed(headers.get("origin"), headers.get("host"), allowed):
        return ORIGIN_REFUSED
    if not await door.limits.hit("ws_connects_per_ip", ip):
        door.suspect(ip, None)
        return TOO_MANY
    return None


def _token(websocket: WebSocket, door: Door) -> str | None:
    return websocket.query_params.get("token") or websocket.cookies.get(door.settings.cookie_name)


def _claims(websocket: WebSocket, door: Door) -> Claims | None:
    return door.verify(_token(websocket, door))


async def _refuse(websocket: WebSocket, door: Door, refusal: Refusal) -> None:
    door.outcomes["ws:" + refusal.reason] += 1
    with contextlib.suppress(Exception):
        await websocket.send_text(ErrorEvent(code=refusal.reason, message=refusal.message).dump())
        await websocket.close(code=refusal.code, reason=refusal.reason)


class Closer:
    """Sends a socket's close frame exactly once, and never gives up on it early.

    uvicorn writes nothing (a close frame included) while the client is not reading and
    the transport's buffer is over its high-water mark. The close therefore runs in its
    own task: cancelling the writer cannot cancel a close half way (which used to leave
    Starlette believing the socket closed, so the endpoint returned and uvicorn dropped the
    connection without a close frame). :meth:`finish` waits up to :data:`CLOSE_WAIT_S` for
    it; only a client that reads nothing for that long loses the close frame."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.task: asyncio.Task[None] | None = None

    def start(self, code: int) -> asyncio.Task[None]:
        if self.task is None:
            self.task = asyncio.ensure_future(self._close(code))
        return self.task

    async def _close(self, code: int) -> None:
        if self.websocket.application_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code)

    async def finish(self, code: int) -> None:
        """Close with ``code`` (unless a close already started) and wait for it."""
        task = self.start(code)
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_WAIT_S)
        except TimeoutError:
            task.cancel()
            logger.info(
                "a client read nothing for %.0f s: dropped without a close frame", CLOSE_WAIT_S
            )


async def _write(websocket: WebSocket, visitor: Visitor, closer: Closer) -> None:
    """Send queued events in order until the ``None`` sentinel (closing on overflow)."""
    while True:
        text = await visitor.outbox.get()
        if text is None:
            if visitor.close_code is not None:
                await asyncio.shield(closer.start(visitor.close_code))
            return
        barrier = visitor.media_barrier
        if barrier is not None:
            visitor.media_barrier = None
            if not barrier.done():
                # Tell the visitor about a match change only once its media follows it.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(barrier), MEDIA_BARRIER_S)
        try:
            await websocket.send_text(text)
        except Exception:
            return


async def _stop_writer(writer: asyncio.Future[None], visitor: Visitor) -> None:
    """Let the writer flush what is queued (up to :data:`CLOSE_WAIT_S`), then stop it."""
    with contextlib.suppress(asyncio.QueueFull):
        visitor.outbox.put_nowait(None)
    try:
        await asyncio.wait_for(asyncio.shield(writer), timeout=CLOSE_WAIT_S)
    except (TimeoutError, asyncio.CancelledError):
        writer.cancel()
