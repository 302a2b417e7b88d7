"""Log records of a Duet node: readable text for people, one JSON object per line for machines.

Handlers log with ``extra={"visitor": ..., "match": ...}`` (and sometimes ``partner``,
``reason``); both formats show those ids when a record has them. Assumes it is called once,
before the server starts, by the process that owns the logging configuration (``duet serve``).

Tokens never reach the log: ``?token=`` (session tokens of non-browser clients) and
``?resume=`` in any message (uvicorn's access and WebSocket lines print the query string)
are replaced by ``[redacted]`` before formatting.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import ClassVar, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

CONTEXT_FIELDS = ("visitor", "partner", "match", "reason")
"""Record attributes that identify what a log line is about, in the order text shows them."""

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_NOT_JSON_FIELDS = ("color_message",)
"""Record attributes left out of JSON lines (uvicorn's ANSI-coloured copy of the message)."""


_SECRET_PARAMS = re.compile(r"([?&;](?:token|resume)=)[^&;\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the values of ``token=`` and ``resume=`` query parameters hidden."""
    return _SECRET_PARAMS.sub(lambda m: m.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record whose message carries a token-bearing URL (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
            if hasattr(record, "color_message"):
                record.color_message = clean
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [visitor=v_.. match=m_..]``."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = [
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        ]
        if not context:
            return text
        head, newline, rest = text.partition("\n")  # keep tracebacks below the ids
        return f"{head} [{' '.join(context)}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object per record: ``timestamp``, ``level``, ``logger``, ``message``, any
    ``extra`` fields (``visitor``, ``match``, ...) and ``exc_info`` for exceptions."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, *_NOT_JSON_FIELDS],
        timestamp=True,
    )


class ClientErrorFilter(logging.Filter):
    """Turns what a client can provoke at will in uvicorn into one quiet line.

    uvicorn's WebSocket protocol (``websockets_sansio_impl``) logs an ERROR with a
    traceback for every text frame that is not UTF-8, then closes the socket with 1007
    (documented in ``docs/protocol.md``): anyone could fill the log that way. The record is
    kept, at INFO, as one line without the traceback."""

    QUIET: ClassVar[dict[str, str]] = {
        "Invalid UTF-8 sequence received from client.": (
            "closed a WebSocket with 1007: a text frame was not UTF-8"
        ),
    }

    def filter(self, record: logging.LogRecord) -> bool:
        quiet = self.QUIET.get(str(record.msg))
        if quiet is not None and record.name.startswith("uvicorn"):
            record.msg, record.args = quiet, ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger().isEnabledFor(logging.INFO)
        return True


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every record at ``level`` or above (uvicorn's too) to stderr in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactTokens())
    handler.addFilter(ClientErrorFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
