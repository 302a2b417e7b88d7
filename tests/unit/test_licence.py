"""Licence: Duet is AGPL-3.0-or-later (NudeNet and its YOLOv8-based model are AGPL-3.0), and
as a network service it offers its source: the page and the console link to ``/source``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from signaling.config.settings import PLACEHOLDER_SOURCE_URL, Settings
from signaling.service.app import create_app

ROOT = Path(__file__).parents[2]


def test_the_licence_file_is_the_full_agpl_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in text
    for section in (
        "13. Remote Network Interaction; Use with the GNU General Public License.",
        "END OF TERMS AND CONDITIONS",
        "How to Apply These Terms to Your New Programs",
    ):
        assert section in text
    assert len(text.splitlines()) >= 660


def test_the_package_declares_agpl() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "AGPL-3.0-or-later"
    assert project["license-files"] == ["LICENSE"]
    assert "AGPL" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("page", ["client/index.html", "client/review/index.html"])
def test_the_page_and_the_console_link_to_the_source(page: str) -> None:
    assert 'href="/source"' in (ROOT / page).read_text()


async def test_source_redirects_to_the_configured_url(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        secret_key="test-secret",
        source_url="https://git.example.org/duet",
        moderation={"enabled": False, "evidence_dir": str(tmp_path / "evidence")},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://duet.test") as client:
            response = await client.get("/source")
    assert response.status_code == 302
    assert response.headers["location"] == "https://git.example.org/duet"


def test_production_refuses_the_placeholder_source_url() -> None:
    key = "k" * 20 + "0123456789abcdef"
    assert Settings().source_url == PLACEHOLDER_SOURCE_URL
    with pytest.raises(ValidationError, match="source_url"):
        Settings(mode="production", secret_key=key)
    with pytest.raises(ValidationError):
        Settings(source_url="javascript:alert(1)")
