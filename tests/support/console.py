"""The reviewer console in-process: a real app (its lifespan run, SQLite, moderation off)
driven through httpx's ASGI transport, and reviewers who log in to it. Each reviewer
carries their own cookie and CSRF token in explicit headers, so one client can act as
several people."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from signaling.config.settings import Settings, load_settings
from signaling.console.accounts import create_account
from signaling.console.sessions import COOKIE
from signaling.service.app import create_app
from signaling.service.services import Services
from signaling.storage.accounts import Role

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-key-for-the-console"


@dataclass
class Reviewer:
    name: str
    token: str
    csrf: str

    def headers(self, csrf: bool = True) -> dict[str, str]:
        headers = {"Cookie": f"{COOKIE}={self.token}"}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return headers


@dataclass
class ConsoleApp:
    app: Starlette
    client: httpx.AsyncClient
    settings: Settings

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def login(self, name: str, password: str = PASSWORD) -> Reviewer:
        response = await self.client.post(
            "/api/auth/login", json={"name": name, "password": password}
        )
        assert response.status_code == 200, response.text
        token = response.cookies[COOKIE]
        self.client.cookies.clear()
        return Reviewer(name, token, response.json()["csrf"])


def console_settings(tmp: Path, **overrides: Any) -> Settings:
    moderation = {"enabled": False, "evidence_dir": str(tmp / "evidence")}
    moderation.update(overrides.pop("moderation", {}))
    return load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp}/duet.sqlite3",
        secret_key=SECRET,
        moderation=moderation,
        sfu={"host_addresses": ["127.0.0.1"]},
        **overrides,
    )


@contextlib.asynccontextmanager
async def console_app(
    tmp: Path,
    accounts: dict[str, Role] | None = None,
    base_url: str = "http://testserver",
    **overrides: Any,
) -> AsyncIterator[ConsoleApp]:
    """A started app with reviewer accounts (password :data:`PASSWORD`): by default the
    admin ``ada`` and the moderator ``mo``."""
    settings = console_settings(tmp, **overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        console = app.state.services.console
        for name, role in (accounts or {"ada": "admin", "mo": "moderator"}).items():
            await create_account(
                console.audit, console.accounts, console.passwords, name, role, PASSWORD, 12, "test"
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield ConsoleApp(app, client, settings)
