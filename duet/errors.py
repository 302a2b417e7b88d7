"""The one base class of Duet's coded errors.

A refusal or failure that code elsewhere (clients, tests, metrics labels, logs) matches
on carries a stable snake_case ``code``; the ``message`` is for people. Signaling's
refusals (``ProtocolError`` over ``/ws``, ``ApiError``, ``DoorError``, ``DecisionError`` over
HTTP) and moderation's failures (``ModerationError``) derive from it.
Imports nothing of Duet, so every package may use it.
"""

from __future__ import annotations


class CodedError(Exception):
    """``code`` is stable, ``message`` is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
