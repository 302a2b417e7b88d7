"""Forwarded headers are believed from trusted proxies only (``trusted_proxies``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from signaling.config.settings import Settings, load_settings
from signaling.door.proxy import ProxyHeadersMiddleware
from signaling.service.app import create_app

TRUSTED = ["127.0.0.1/32", "10.0.0.0/8"]


async def _seen(
    peer: str, headers: dict[str, str], kind: str = "http", trusted: list[str] = TRUSTED
) -> tuple[str, str]:
    """The (client host, scheme) the app behind the middleware sees."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope)

    scope = {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": (peer, 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        return None

    await ProxyHeadersMiddleware(app, trusted)(scope, nothing, ignore)
    return seen["client"][0], seen["scheme"]


async def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    headers = {"X-Forwarded-For": "1.1.1.1", "X-Forwarded-Proto": "https"}
    assert await _seen("192.0.2.9", headers) == ("192.0.2.9", "http")
    assert await _seen("192.0.2.9", {"Forwarded": "for=1.1.1.1;proto=https"}) == (
        "192.0.2.9",
        "http",
    )


async def test_the_right_most_untrusted_address_is_the_visitor() -> None:
    # Whatever the visitor put on the left is ignored; trusted hops on the right skipped.
    spoofed = {"X-Forwarded-For": "6.6.6.6, 2.2.2.2"}
    assert (await _seen("127.0.0.1", spoofed))[0] == "2.2.2.2"
    chain = {"X-Forwarded-For": "6.6.6.6, 2.2.2.2, 10.1.2.3"}
    assert (await _seen("10.0.0.5", chain))[0] == "2.2.2.2"
    assert (await _seen("127.0.0.1", {"x-forwarded-for": "6.6.6.6, 3.3.3.3"}))[0] == "3.3.3.3"


async def test_an_entry_that_is_not_an_address_never_becomes_the_visitor() -> None:
    assert (await _seen("127.0.0.1", {"X-Forwarded-For": "1.1.1.1, unknown"}))[0] == "127.0.0.1"
    assert (await _seen("127.0.0.1", {"X-Forwarded-For": "10.9.9.9, 10.0.0.2"}))[0] == "10.9.9.9"


async def test_the_believed_scheme_for_http_and_websocket() -> None:
    https = {"X-Forwarded-Proto": "https"}
    assert await _seen("127.0.0.1", https) == ("127.0.0.1", "https")
    assert await _seen("127.0.0.1", https, kind="websocket") == ("127.0.0.1", "wss")
    nearest_says_http = {"X-Forwarded-Proto": "https, http"}
    assert (await _seen("127.0.0.1", nearest_says_http))[1] == "http"
    assert (await _seen("127.0.0.1", {"X-Forwarded-Proto": "gopher"}))[1] == "http"


async def test_rfc7239_forwarded_is_read_when_x_forwarded_is_absent() -> None:
    forwarded = {"Forwarded": 'for=6.6.6.6;proto=http, for="[2001:db8::1]:4711";proto=https'}
    assert await _seen("127.0.0.1", forwarded) == ("2001:db8::1", "https")
    both = {**forwarded, "X-Forwarded-For": "4.4.4.4"}
    assert (await _seen("127.0.0.1", both))[0] == "4.4.4.4"


async def test_no_trusted_proxies_means_no_forwarded_headers() -> None:
    headers = {"X-Forwarded-For": "1.1.1.1", "X-Forwarded-Proto": "https"}
    assert await _seen("127.0.0.1", headers, trusted=[]) == ("127.0.0.1", "http")


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().trusted_proxies == ["127.0.0.1/32"]
    monkeypatch.setenv("DUET_TRUSTED_PROXIES", '["10.0.0.0/8", "fd00::/8", "192.0.2.1"]')
    assert load_settings().trusted_proxies == ["10.0.0.0/8", "fd00::/8", "192.0.2.1/32"]
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=["10.0.0.0/33"])


async def _session_response(tmp_path: Path, peer: str) -> httpx.Response:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        secret_key="test-secret",
        trusted_proxies=["127.0.0.5/32"],
        moderation={"enabled": False, "evidence_dir": str(tmp_path / "evidence")},
        door={"challenge": {"enabled": False}},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://duet.test") as client:
            body = {"birth_year": 1990, "adult": True, "device": "device_0123456789abcdef"}
            headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
            return await client.post("/api/session", json=body, headers=headers)


async def test_cookies_and_hsts_follow_the_scheme_a_trusted_proxy_reports(tmp_path: Path) -> None:
    behind = await _session_response(tmp_path / "a", "127.0.0.5")
    assert behind.status_code == 200
    assert "secure" in behind.headers["set-cookie"].lower()
    assert "strict-transport-security" in behind.headers
    spoofed = await _session_response(tmp_path / "b", "127.0.0.9")
    assert spoofed.status_code == 200
    assert "secure" not in spoofed.headers["set-cookie"].lower()
    assert "strict-transport-security" not in spoofed.headers
