"""Talk in a match: chat (sanitised, paced, checked by moderation), typing and
camera/microphone state, relayed to the partner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moderation.text import sanitise
from signaling.protocol import (
    ChatEvent,
    Media,
    MediaEvent,
    ProtocolError,
    TypingEvent,
    WarningEvent,
)
from signaling.room.visitor import Line, Visitor

if TYPE_CHECKING:
    from signaling.room.lobby import Lobby


async def chat(lobby: Lobby, visitor: Visitor, text: str) -> None:
    limit = lobby.settings.chat.max_length
    too_long = ProtocolError("too_long", f"chat messages are limited to {limit} characters")
    if len(text) > limit:
        raise too_long
    # The limit holds for the text as relayed: NFKC can grow a character 18-fold
    # (U+FDFA), so the sanitised text is measured again.
    text = sanitise(text)
    if len(text) > limit:
        raise too_long
    if not text:
        raise ProtocolError("invalid_message", "chat text is empty")
    match = visitor.match
    lobby.partner(visitor)
    if lobby.pace is not None:
        await lobby.pace.chat(visitor)
        if visitor.match is not match or not visitor.alive:
            return
    if lobby.moderation is not None and match is not None:
        outcome = await lobby.moderation.chat_message(lobby.subject(visitor), match.id, text)
        if not outcome.text:
            raise ProtocolError("invalid_message", "chat text is empty")
        if outcome.banned or visitor.match is not match or not visitor.alive:
            return  # banned for it, or the match ended while the message was checked
        if outcome.flagged:
            strikes_to_ban = lobby.moderation.settings.text.strikes_to_ban
            visitor.send(
                WarningEvent(
                    reason=outcome.reason,
                    message="your message was censored: keep it civil or you will be banned",
                    strikes=outcome.strikes,
                    strikes_to_ban=strikes_to_ban,
                )
            )
        text = outcome.text
    partner = lobby.partner(visitor)
    current = visitor.match
    if current is not None:
        current.lines.append(Line(sender=visitor.id, text=text, at=lobby.clock()))
    visitor.typing_sent = False  # the partner's page hides "typing" on a message
    partner.send(ChatEvent(text=text))


async def typing(lobby: Lobby, visitor: Visitor, on: bool) -> None:
    partner = lobby.partner(visitor)
    if lobby.pace is not None and not await lobby.pace.chatter(visitor):
        return  # a flood of typing events is dropped, never relayed
    # Repeats tell the partner nothing: only changes are relayed.
    if visitor.match is None or visitor.match.partner_of(visitor) is not partner:
        return
    if visitor.typing_sent == on:
        return
    visitor.typing_sent = on
    partner.send(TypingEvent(on=on))


async def media_state(lobby: Lobby, visitor: Visitor, message: Media) -> None:
    if lobby.pace is not None and not await lobby.pace.chatter(visitor):
        return
    changed = (visitor.audio, visitor.video) != (message.audio, message.video)
    visitor.audio, visitor.video = message.audio, message.video
    if changed and visitor.match is not None:
        visitor.match.partner_of(visitor).send(MediaEvent(audio=message.audio, video=message.video))
