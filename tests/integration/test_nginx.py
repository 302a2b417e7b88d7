"""Behind a real TLS-terminating nginx (``configs/nginx.conf.template``): the node believes
the proxy (listed in ``trusted_proxies``) and so tells visitors apart by their own
addresses, marks cookies Secure and sends HSTS; ``wss://`` works through it.

nginx connects to the node from 127.0.0.5 (``proxy_bind``); the two callers connect to
nginx from 127.0.0.2 and 127.0.0.3 (all of 127.0.0.0/8 is loopback on Linux)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from moderation.records import BanRecord, EvidenceRecord
from signaling.storage import Database, SqlModerationStore
from tests.support.door import session_body
from tests.support.nginx import Nginx, run_nginx
from tests.support.servers import DuetServer, run_duet

PROXY, ALICE, BOB = "127.0.0.5", "127.0.0.2", "127.0.0.3"


@dataclass
class Site:
    node: DuetServer
    nginx: Nginx


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    env = {
        "DUET_TRUSTED_PROXIES": f'["{PROXY}/32"]',
        "DUET_LIMITS__WS_CONNECTS_PER_IP": "3 per minute",
    }
    with (
        run_duet(tmp_path, env=env) as node,
        run_nginx(tmp_path, [f"127.0.0.1:{node.port}"], proxy_bind=PROXY) as nginx,
    ):
        yield Site(node, nginx)


def _client(site: Site, source: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source, verify=site.nginx.ssl_context())
    return httpx.AsyncClient(transport=transport, base_url=site.nginx.url, timeout=10)


async def _session(site: Site, source: str) -> httpx.Response:
    async with _client(site, source) as client:
        response = await client.post("/api/session", json=await session_body(client))
        assert response.status_code == 200, response.text
        return response


async def _first_event(
    site: Site, source: str, token: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The first event ``/ws`` sends a caller from ``source`` presenting the session cookie
    (as a browser does), through nginx."""
    async with websockets.connect(
        site.nginx.ws_url,
        ssl=site.nginx.ssl_context(),
        local_addr=(source, 0),
        # As a browser does: the page's origin (checked against Host) and the cookie.
        origin=websockets.Origin(site.nginx.url),
        additional_headers={"Cookie": f"duet_session={token}", **(headers or {})},
    ) as ws:
        event: dict[str, Any] = json.loads(await ws.recv())
        return event


async def _ban(node: DuetServer, ip: str) -> None:
    db = Database(node.database_url)
    try:
        now = datetime.now(UTC)
        evidence = EvidenceRecord("e_n", "text", "v_n", None, now, "x.txt", "0" * 64, None, "t")
        ban = BanRecord(
            "b_n", "v_n", ip, None, None, "test", "text", now, now + timedelta(hours=1), "e_n"
        )
        await SqlModerationStore(db).save(evidence, ban)
    finally:
        await db.close()


async def test_https_through_nginx_gets_secure_cookies_and_hsts(site: Site) -> None:
    async with _client(site, ALICE) as client:
        page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["strict-transport-security"].startswith("max-age=")
    cookie = (await _session(site, ALICE)).headers["set-cookie"].lower()
    assert "duet_session=" in cookie and "; secure" in cookie and "httponly" in cookie
    # The node itself, reached directly over plain http, sends neither.
    async with httpx.AsyncClient() as plain:
        direct = await plain.get(site.node.url + "/")
    assert "strict-transport-security" not in direct.headers


async def test_callers_are_told_apart_by_their_own_addresses(site: Site) -> None:
    alice = (await _session(site, ALICE)).json()["token"]
    bob = (await _session(site, BOB)).json()["token"]
    assert (await _first_event(site, ALICE, alice))["type"] == "welcome"  # wss:// works
    assert (await _first_event(site, BOB, bob))["type"] == "welcome"

    # A ban of Alice's address never reaches Bob, and a forged header does not help her.
    await _ban(site.node, ALICE)
    assert (await _first_event(site, ALICE, alice))["type"] == "banned"
    forged = {"X-Forwarded-For": BOB, "Forwarded": f"for={BOB}"}
    assert (await _first_event(site, ALICE, alice, forged))["type"] == "banned"
    assert (await _first_event(site, BOB, bob))["type"] == "welcome"

    # Per-IP limits count each address: Alice has used her 3 connections, Bob 2.
    refused = await _first_event(site, ALICE, alice)
    assert refused.get("code") == "rate_limited"
    assert (await _first_event(site, BOB, bob))["type"] == "welcome"
