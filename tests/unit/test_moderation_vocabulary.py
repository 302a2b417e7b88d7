"""One vocabulary in ``moderation``: one ``BgrFrame``, one coded-error base class."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import moderation
from moderation.errors import ModerationError, NoWorker, WorkerDied
from moderation.verdict import BadVerdict

PACKAGE = Path(moderation.__file__).parent


def defined_names(source: str) -> set[str]:
    """Names a module defines at top level (classes, functions, assignments; an
    ``import ... as`` re-export is not a definition)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_bgr_frame_is_defined_once() -> None:
    where = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "BgrFrame" in defined_names(path.read_text(encoding="utf-8"))
    ]
    assert where == ["frames.py"], f"BgrFrame defined in {where}: import moderation.frames"


def moderation_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="moderation."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_moderation_error_is_coded() -> None:
    errors = moderation_exceptions()
    assert len(errors) >= 8  # CheckFailed and its three kinds, NoWorker, BadVerdict, ...
    uncoded = [e.__qualname__ for e in errors if not issubclass(e, ModerationError)]
    assert uncoded == [], f"derive these from moderation.errors.ModerationError: {uncoded}"
    codes = [e.code for e in errors if issubclass(e, ModerationError)]
    assert all(re.fullmatch(r"[a-z][a-z_]*", code) for code in codes), codes
    assert len(set(codes)) == len(codes), f"two error classes share a code: {sorted(codes)}"


def test_codes_and_builtin_bases() -> None:
    assert WorkerDied("boom").code == "worker_died" and str(WorkerDied("boom")) == "boom"
    busy = NoWorker("busy")
    assert (busy.code, busy.message) == ("busy", "busy")
    assert NoWorker.code == "no_worker"  # a NoWorker always names which one
    bad = BadVerdict("no verdict")
    assert isinstance(bad, ValueError) and bad.code == "bad_verdict"
