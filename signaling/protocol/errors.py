"""The one base class of every refusal signaling reports to a client: a stable ``code``
(what clients, tests and metrics match on) and a ``message`` for people.

Over ``/ws`` a refusal is an ``error`` event (:class:`~signaling.protocol.ProtocolError`);
over HTTP a JSON body with a status (:class:`~signaling.protocol.http.ApiError`, and the
door's and console's own refusals, which their endpoints turn into one).
"""

from __future__ import annotations


class CodedError(Exception):
    """A refusal: ``code`` is stable, ``message`` is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
