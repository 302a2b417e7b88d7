"""Static checks of the browser client and the reviewer console: same-origin assets only,
nothing a strict CSP (``script-src 'self'``, no inline styles) would block, and no HTML
sinks for chat text, appeals, comments or any other text people wrote."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "client"
TEST_IDS = [
    "start-video",
    "start-text",
    "next",
    "stop",
    "local-video",
    "remote-video",
    "chat-input",
    "chat-send",
    "chat-log",
    "status",
    "banned",
    "banned-reason",
    "banned-until",
    "appeal-text",
    "appeal-send",
    "appeal-status",
    "appeal-decision",
]
PAGES = ["index.html", "review/index.html"]
MODULES = sorted(
    str(p.relative_to(CLIENT)) for p in [*CLIENT.glob("js/*.js"), *CLIENT.glob("review/js/*.js")]
)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def _index(page: str = "index.html") -> _Collector:
    collector = _Collector()
    collector.feed((CLIENT / page).read_text())
    return collector


@pytest.mark.parametrize("name", PAGES)
def test_pages_have_no_inline_script_style_or_handlers(name: str) -> None:
    page = _index(name)
    assert page.script_text == []
    for tag, attrs in page.tags:
        assert tag != "style", "inline <style> element"
        assert "style" not in attrs, f"inline style on <{tag}>"
        handlers = [name for name in attrs if name.startswith("on")]
        assert handlers == [], f"inline handler {handlers} on <{tag}>"
        if tag == "script":
            assert attrs.get("type") == "module" and attrs.get("src"), attrs


SERVER_ROUTES = {"/", "/source"}
"""Links served by the node rather than by a file (``/source``: the AGPL source link)."""


@pytest.mark.parametrize("name", PAGES)
def test_every_asset_is_same_origin_and_exists(name: str) -> None:
    for tag, attrs in _index(name).tags:
        for name in ("src", "href"):
            url = attrs.get(name)
            if url is None or url.startswith("#"):
                continue
            assert url.startswith("/") and not url.startswith("//"), f"<{tag} {name}={url}>"
            if url not in SERVER_ROUTES:
                assert (CLIENT / url.lstrip("/")).is_file(), f"missing {url}"
    for css in [*CLIENT.glob("css/*.css"), *CLIENT.glob("review/css/*.css")]:
        text = css.read_text()
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", text), css.name


def test_test_ids_are_present_once() -> None:
    ids = [attrs.get("data-testid") for _, attrs in _index().tags]
    for test_id in TEST_IDS:
        assert ids.count(test_id) == 1, test_id


@pytest.mark.parametrize("module", MODULES)
def test_modules_use_no_html_sinks_and_only_local_imports(module: str) -> None:
    path = CLIENT / module
    text = path.read_text()
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", ".style")
    for sink in sinks:
        assert sink not in text, f"{module} uses {sink}"
    for target in re.findall(r"^import [^;]*? from \"([^\"]+)\";$", text, flags=re.M):
        assert target.startswith("./"), f"{module} imports {target}"
        assert (path.parent / target).is_file(), f"{module} imports missing {target}"


def test_console_evidence_is_blurred_and_grey_until_revealed() -> None:
    css = (CLIENT / "review" / "css" / "queue.css").read_text()
    default = re.search(r"\.evidence__image \{([^}]*)\}", css)
    assert default and "grayscale(1)" in default.group(1) and "blur(" in default.group(1)
    revealed = re.search(r'\[data-revealed="true"\] \.evidence__image \{([^}]*)\}', css)
    assert revealed and "filter: none" in revealed.group(1)
    viewer = (CLIENT / "review" / "js" / "evidence.js").read_text()
    assert "src: evidence.images.blurred" in viewer  # the blurred file is what loads first


MAX_MODULE_LINES = 400
"""The most lines one client module may have: past it, split it by what it does."""


def test_no_client_module_is_over_the_size_limit() -> None:
    modules = sorted(CLIENT.rglob("*.js"))
    assert modules, "no client modules found"
    too_long = {
        str(path.relative_to(CLIENT)): lines
        for path in modules
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"client modules over {MAX_MODULE_LINES} lines: {too_long}"
