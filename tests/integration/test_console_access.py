"""Access to the reviewer API: the route-table sweep (login, role, CSRF on every route),
login throttling and lockout, the session cookie, argon2 hashes, logout."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.routing import Route

from signaling.console.csrf import UNSAFE_METHODS
from signaling.console.guard import AdminRoute
from signaling.console.sessions import COOKIE
from tests.support.console import PASSWORD, ConsoleApp, Reviewer, console_app


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleApp]:
    async with console_app(tmp_path) as app:
        yield app


def _admin_routes(console: ConsoleApp) -> list[AdminRoute]:
    routes = [r for r in console.app.routes if isinstance(r, Route)]
    under = [r for r in routes if r.path.startswith("/api/admin")]
    unguarded = [r.path for r in under if not isinstance(r, AdminRoute)]
    assert unguarded == [], f"routes under /api/admin without the guard: {unguarded}"
    assert len(under) >= 20
    return [r for r in under if isinstance(r, AdminRoute)]


def _url(route: AdminRoute) -> str:
    return re.sub(r"\{[^}]+\}", "x_1", route.path)


def _calls(console: ConsoleApp) -> list[tuple[str, str, AdminRoute]]:
    return [
        (method, _url(route), route)
        for route in _admin_routes(console)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


async def test_every_admin_route_needs_login_role_and_csrf(console: ConsoleApp) -> None:
    moderator = await console.login("mo")
    admin = await console.login("ada")
    for method, url, route in _calls(console):
        # Anonymous, and with a made-up cookie: 401.
        for headers in ({}, {"Cookie": f"{COOKIE}=forged-token"}):
            response = await console.client.request(method, url, headers=headers, json={})
            assert response.status_code == 401, (method, url, headers)
            assert response.json()["error"] == "unauthenticated"
            assert response.headers["cache-control"] == "no-store"
        if method in UNSAFE_METHODS:
            # Logged in, but no CSRF token, a wrong one, or a foreign Origin: 403 csrf.
            reviewer = admin if route.role == "admin" else moderator
            for headers in (
                reviewer.headers(csrf=False),
                {**reviewer.headers(csrf=False), "X-CSRF-Token": "0" * 64},
                {**reviewer.headers(csrf=False), "X-CSRF-Token": admin.csrf},
                {**reviewer.headers(), "Origin": "https://evil.example"},
            ):
                if headers.get("X-CSRF-Token") == reviewer.csrf and "Origin" not in headers:
                    continue  # (the admin's token is the right one for the admin)
                response = await console.client.request(method, url, headers=headers, json={})
                assert response.status_code == 403, (method, url, headers)
                assert response.json()["error"] == "csrf"
        if route.role == "admin":
            response = await console.client.request(
                method, url, headers=moderator.headers(), json={}
            )
            assert response.status_code == 403, (method, url)
            assert response.json()["error"] == "forbidden"
        if route.path == "/api/admin/logout":
            continue  # (tested below: it would end the session the sweep uses)
        # With the right role and token the guard lets the request through.
        reviewer = admin if route.role == "admin" else moderator
        response = await console.client.request(method, url, headers=reviewer.headers(), json={})
        assert response.status_code not in (401, 403), (method, url, response.text)


async def test_routes_declare_roles(console: ConsoleApp) -> None:
    roles = {(r.path, tuple(sorted(r.methods or ()))): r.role for r in _admin_routes(console)}
    assert roles[("/api/admin/live", ("GET", "HEAD"))] == "admin"
    assert roles[("/api/admin/accounts", ("POST",))] == "admin"
    assert roles[("/api/admin/audit", ("GET", "HEAD"))] == "admin"
    assert roles[("/api/admin/queue", ("GET", "HEAD"))] == "moderator"
    assert roles[("/api/admin/bans", ("POST",))] == "moderator"


async def test_login_sets_a_strict_http_only_cookie_and_stores_only_argon2(
    console: ConsoleApp, tmp_path: Path
) -> None:
    response = await console.client.post(
        "/api/auth/login", json={"name": "MO", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["role"] == "moderator"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure (next test)
    token = response.cookies[COOKIE]
    with sqlite3.connect(tmp_path / "duet.sqlite3") as db:
        hashes = [row[0] for row in db.execute("SELECT password_hash FROM admin_accounts")]
        sessions = [row[0] for row in db.execute("SELECT id FROM admin_sessions")]
        dump = "\n".join(db.iterdump())
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert PASSWORD not in dump and token not in dump
    assert len(sessions) == 1 and sessions[0] != token


async def test_cookie_is_secure_over_https(tmp_path: Path) -> None:
    async with console_app(tmp_path, base_url="https://testserver") as console:
        response = await console.client.post(
            "/api/auth/login", json={"name": "mo", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert "Secure" in response.headers["set-cookie"]


async def test_wrong_password_and_unknown_name_look_the_same(console: ConsoleApp) -> None:
    wrong = await console.client.post(
        "/api/auth/login", json={"name": "mo", "password": "nope nope nope"}
    )
    unknown = await console.client.post(
        "/api/auth/login", json={"name": "nobody", "password": "nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


async def test_repeated_failures_lock_the_name_even_for_the_right_password(tmp_path: Path) -> None:
    async with console_app(tmp_path, admin={"login_failures_per_name": 3}) as console:
        for _ in range(2):
            bad = await console.client.post(
                "/api/auth/login", json={"name": "mo", "password": "wrong-guess"}
            )
            assert bad.status_code == 401
        locked = await console.client.post(
            "/api/auth/login", json={"name": "mo", "password": "wrong-guess"}
        )
        assert locked.status_code == 429 and locked.json()["error"] == "locked"
        assert int(locked.headers["retry-after"]) > 0
        right = await console.client.post(
            "/api/auth/login", json={"name": "mo", "password": PASSWORD}
        )
        assert right.status_code == 429
        # Another account is not locked by it (the IP limit is higher).
        other = await console.client.post(
            "/api/auth/login", json={"name": "ada", "password": PASSWORD}
        )
        assert other.is_success


async def test_repeated_failures_from_one_ip_block_it(tmp_path: Path) -> None:
    async with console_app(tmp_path, admin={"login_failures_per_ip": 4}) as console:
        for n in range(3):
            bad = await console.client.post(
                "/api/auth/login", json={"name": f"guess{n}", "password": "x"}
            )
            assert bad.status_code == 401
        blocked = await console.client.post(
            "/api/auth/login", json={"name": "guess9", "password": "x"}
        )
        assert blocked.status_code == 429
        right = await console.client.post(
            "/api/auth/login", json={"name": "ada", "password": PASSWORD}
        )
        assert right.status_code == 429


async def test_login_refuses_forms_and_foreign_origins(console: ConsoleApp) -> None:
    form = await console.client.post("/api/auth/login", data={"name": "mo", "password": PASSWORD})
    assert form.status_code == 415
    foreign = await console.client.post(
        "/api/auth/login",
        json={"name": "mo", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403


async def test_logout_ends_the_session(console: ConsoleApp) -> None:
    reviewer = await console.login("mo")
    me = await console.client.get("/api/auth/session", headers=reviewer.headers())
    assert me.json()["reviewer"]["name"] == "mo"
    out = await console.client.post("/api/admin/logout", headers=reviewer.headers())
    assert out.status_code == 200
    assert 'duet_review=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    again = await console.client.get("/api/admin/queue", headers=reviewer.headers())
    assert again.status_code == 401
    anonymous = await console.client.get("/api/auth/session", headers=reviewer.headers())
    assert anonymous.status_code == 200 and anonymous.json() == {"reviewer": None}


async def test_disabling_an_account_ends_its_sessions(console: ConsoleApp) -> None:
    admin, moderator = await console.login("ada"), await console.login("mo")
    listed = await console.client.get("/api/admin/accounts", headers=admin.headers())
    mo_id = next(a["id"] for a in listed.json()["accounts"] if a["name"] == "mo")
    response = await console.client.post(
        f"/api/admin/accounts/{mo_id}/disabled",
        json={"disabled": True, "reason": "left the team"},
        headers=admin.headers(),
    )
    assert response.status_code == 200
    me = await console.client.get("/api/admin/queue", headers=moderator.headers())
    assert me.status_code == 401
    again = await console.client.post("/api/auth/login", json={"name": "mo", "password": PASSWORD})
    assert again.status_code == 401


async def test_console_page_is_served_with_a_strict_policy(console: ConsoleApp) -> None:
    page = await console.client.get("/review")
    assert page.status_code == 200 and "<title>Duet review</title>" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path, status in [
        ("/review/js/main.js", 200),
        ("/review/css/queue.css", 200),
        ("/review/index.html", 404),
    ]:
        assert (await console.client.get(path)).status_code == status, path


async def test_reviewer_sees_who_they_are(console: ConsoleApp) -> None:
    reviewer: Reviewer = await console.login("ada")
    me = await console.client.get("/api/auth/session", headers=reviewer.headers(csrf=False))
    body = me.json()["reviewer"]
    assert body["name"] == "ada" and body["role"] == "admin" and body["csrf"] == reviewer.csrf


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def test_sessions_expire_when_idle_and_after_their_lifetime(console: ConsoleApp) -> None:
    clock = _Clock()
    console.services.console.sessions.now = clock  # idle 30 min, lifetime 12 h (defaults)

    async def me(reviewer: Reviewer) -> int:
        return (
            await console.client.get("/api/admin/queue", headers=reviewer.headers())
        ).status_code

    idle = await console.login("mo")
    clock.advance(minutes=20)
    assert await me(idle) == 200  # activity moves the idle deadline
    clock.advance(minutes=25)
    assert await me(idle) == 200
    clock.advance(minutes=31)
    assert await me(idle) == 401  # 31 min without a request
    clock.advance(minutes=1)
    assert await me(idle) == 401  # and it stays ended (the row is gone)

    busy = await console.login("mo")
    for _ in range(12 * 3 - 1):
        clock.advance(minutes=20)
        assert await me(busy) == 200
    clock.advance(minutes=21)
    assert await me(busy) == 401  # 12 h after login, however busy
