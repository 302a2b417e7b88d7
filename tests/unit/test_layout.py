"""The shape of the code: small modules, and the multi-node side drives the lobby only
through its public interface. (Which package may import which is checked by
``lint-imports``, see ``[tool.importlinter]`` in ``pyproject.toml``.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
SMALL = ("signaling", "sfu", "moderation", "turn", "duet")
"""Every production package, and the command: held to :data:`MAX_LINES` lines per module."""


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_no_module_of_the_small_packages_is_over_the_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in SMALL
        for path in _modules(package)
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _private_lobby_uses(tree: ast.AST) -> list[str]:
    """``….lobby._name`` attribute accesses in a module."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and isinstance(node.value, ast.Attribute | ast.Name)
            and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
            == "lobby"
        ):
            found.append(f"{node.lineno}: lobby.{node.attr}")
    return found


def test_nothing_outside_the_room_touches_the_lobbys_private_parts() -> None:
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in _modules("signaling")
        if "room" not in path.relative_to(ROOT / "signaling").parts[:1]
        and (uses := _private_lobby_uses(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_private_use_check_sees_one() -> None:
    """The detector itself: a private access through ``self.lobby`` is found."""
    assert _private_lobby_uses(ast.parse("self.lobby._start_match(a, b)")) == [
        "1: lobby._start_match"
    ]


def _hand_made_coded_errors(tree: ast.AST) -> list[str]:
    """Exception classes that set ``self.code`` themselves instead of deriving from
    :class:`duet.errors.CodedError`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        sets_code = any(
            isinstance(target, ast.Attribute)
            and target.attr == "code"
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            for child in ast.walk(node)
            if isinstance(child, ast.Assign)
            for target in child.targets
        )
        bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
        if sets_code and bases & {"Exception", "ValueError", "RuntimeError"}:
            found.append(node.name)
    return found


def test_every_coded_refusal_shares_one_base_class() -> None:
    hand_made = {
        str(path.relative_to(ROOT)): names
        for path in _modules("signaling")
        if path.name != "errors.py"
        and (names := _hand_made_coded_errors(ast.parse(path.read_text())))
    }
    assert hand_made == {}
