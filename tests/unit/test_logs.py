"""Log lines: JSON objects with the visitor and match ids, or text with them appended."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from signaling.service.logs import TextFormatter, configure_logging, json_formatter, redact


def _record(message: str = "match started", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("signaling.room.lobby", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_ids() -> None:
    line = json_formatter().format(
        _record(visitor="v_1", match="m_2", partner="v_3", color_message="\x1b[1mx")
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "match started"
    assert data["level"] == "INFO"
    assert data["logger"] == "signaling.room.lobby"
    assert (data["visitor"], data["match"], data["partner"]) == ("v_1", "m_2", "v_3")
    assert "timestamp" in data
    assert "color_message" not in data
    plain = json.loads(json_formatter().format(_record("duet node started")))
    assert "visitor" not in plain and "match" not in plain


def test_json_keeps_exceptions_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "signaling.service.ws", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = json_formatter().format(record)
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exc_info"]


def test_text_lines_append_the_ids() -> None:
    line = TextFormatter().format(_record(visitor="v_1", match="m_2", reason="next"))
    assert line.endswith("signaling.room.lobby: match started [visitor=v_1 match=m_2 reason=next]")
    assert "[" not in TextFormatter().format(_record())


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Puts the root logger's handlers and level back after configure_logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_tokens_in_urls_are_redacted_in_both_formats(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    secret, resume = "eyJzIjoic18xIn0.c2lnbmF0dXJl", "v_abc.bWFj"
    for log_format in ("text", "json"):
        configure_logging("info", log_format)
        # As uvicorn writes its access and WebSocket lines (the URL is an argument).
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            f"/api/ice?token={secret}&x=1",
            "1.1",
            200,
        )
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:5001", f"/ws?resume={resume}"
        )
        err = capsys.readouterr().err
        assert secret not in err and resume not in err, err
        assert "token=[redacted]&x=1" in err and "resume=[redacted]" in err
        assert "127.0.0.1:5000" in err and "200" in err


def test_redact_leaves_other_text_alone() -> None:
    assert redact("GET /api/challenge?device=abc 200") == "GET /api/challenge?device=abc 200"
    assert redact("/ws?x=1&TOKEN=abc def") == "/ws?x=1&TOKEN=[redacted] def"


def test_uvicorns_invalid_utf8_traceback_becomes_one_quiet_line() -> None:
    from signaling.service.logs import ClientErrorFilter

    try:
        b"\xff".decode()
    except UnicodeDecodeError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1,
            "Invalid UTF-8 sequence received from client.", (), sys.exc_info(),
        )  # fmt: skip
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        assert ClientErrorFilter().filter(record)
    finally:
        root.setLevel(level)
    text = TextFormatter().format(record)
    assert "Traceback" not in text and "\n" not in text
    assert record.levelno == logging.INFO and "1007" in text
    other = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "other", (), None)
    assert ClientErrorFilter().filter(other) and other.levelno == logging.ERROR
