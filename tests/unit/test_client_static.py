"""Static checks of the browser client: same-origin assets only, nothing a strict CSP
(``script-src 'self'``, no inline styles) would block, and no HTML sinks for chat text."""

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
]


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


def _index() -> _Collector:
    collector = _Collector()
    collector.feed((CLIENT / "index.html").read_text())
    return collector


def test_index_has_no_inline_script_style_or_handlers() -> None:
    page = _index()
    assert page.script_text == []
    for tag, attrs in page.tags:
        assert tag != "style", "inline <style> element"
        assert "style" not in attrs, f"inline style on <{tag}>"
        handlers = [name for name in attrs if name.startswith("on")]
        assert handlers == [], f"inline handler {handlers} on <{tag}>"
        if tag == "script":
            assert attrs.get("type") == "module" and attrs.get("src"), attrs


def test_every_asset_is_same_origin_and_exists() -> None:
    for tag, attrs in _index().tags:
        for name in ("src", "href"):
            url = attrs.get(name)
            if url is None:
                continue
            assert url.startswith("/") and not url.startswith("//"), f"<{tag} {name}={url}>"
            if url != "/":
                assert (CLIENT / url.lstrip("/")).is_file(), f"missing {url}"
    for css in CLIENT.glob("css/*.css"):
        text = css.read_text()
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", text), css.name


def test_test_ids_are_present_once() -> None:
    ids = [attrs.get("data-testid") for _, attrs in _index().tags]
    for test_id in TEST_IDS:
        assert ids.count(test_id) == 1, test_id


@pytest.mark.parametrize("module", sorted(p.name for p in CLIENT.glob("js/*.js")))
def test_modules_use_no_html_sinks_and_only_local_imports(module: str) -> None:
    text = (CLIENT / "js" / module).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in text, f"{module} uses {sink}"
    for target in re.findall(r"^import .* from \"([^\"]+)\";$", text, flags=re.M):
        assert target.startswith("./"), f"{module} imports {target}"
        assert (CLIENT / "js" / target).is_file(), f"{module} imports missing {target}"
