"""One vocabulary in ``sfu``: one ``BgrFrame``."""

from __future__ import annotations

from pathlib import Path

import sfu
from tests.unit.test_moderation_vocabulary import defined_names

PACKAGE = Path(sfu.__file__).parent


def test_bgr_frame_is_defined_once() -> None:
    where = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "BgrFrame" in defined_names(path.read_text(encoding="utf-8"))
    ]
    assert where == ["frames.py"], f"BgrFrame defined in {where}: import sfu.frames"
