"""Which Duet is running: the distribution's version and, from a git checkout, its commit."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


@dataclass(frozen=True)
class BuildInfo:
    version: str
    """Version of the installed ``duet`` distribution (``unknown`` if it is not installed)."""
    commit: str | None
    """``git describe --always --dirty`` of the source tree, or ``None`` when Duet does not
    run from a git checkout (a wheel install) or git is missing."""


def build_info() -> BuildInfo:
    """Look both up now (runs ``git`` once: call it at start-up, not per request)."""
    try:
        duet_version = version("duet")
    except PackageNotFoundError:
        duet_version = "unknown"
    return BuildInfo(version=duet_version, commit=_commit(Path(__file__).resolve().parent))


def _commit(directory: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = result.stdout.strip()
    return text if result.returncode == 0 and text else None
