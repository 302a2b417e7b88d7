"""The browser client's static files: ``/``, ``/terms.html`` and the ``css/``, ``js/``,
``img/`` folders, and the reviewer console at ``/review`` with its own ``review/css/`` and
``review/js/``.

Only those are served (never the ``client`` package's Python files), with
``Cache-Control: no-cache`` so that browsers revalidate the ES modules after a deploy
(ETags keep that cheap). Security headers (a strict Content-Security-Policy, never framed)
come with every response (:mod:`signaling.door.headers`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSET_FOLDERS = ("css", "js", "img")
REVIEW_FOLDERS = ("css", "js")


def client_directory() -> Path:
    """Where the client's static files are (inside the installed ``client`` package)."""
    return Path(str(files("client")))


class _RevalidatedFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def routes() -> list[BaseRoute]:
    root = client_directory()
    index = root / "index.html"
    terms = root / "terms.html"

    async def page(request: Request) -> Response:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def terms_page(request: Request) -> Response:
        return FileResponse(terms, headers={"Cache-Control": "no-cache"})

    async def review_page(request: Request) -> Response:
        return FileResponse(root / "review" / "index.html", headers={"Cache-Control": "no-cache"})

    mounts: list[BaseRoute] = [
        Route("/", page),
        Route("/terms.html", terms_page),
        Route("/review", review_page),
    ]
    for folder in ASSET_FOLDERS:
        mounts.append(Mount(f"/{folder}", _RevalidatedFiles(directory=root / folder), name=folder))
    for folder in REVIEW_FOLDERS:
        mounts.append(
            Mount(
                f"/review/{folder}",
                _RevalidatedFiles(directory=root / "review" / folder),
                name=f"review-{folder}",
            )
        )
    return mounts
