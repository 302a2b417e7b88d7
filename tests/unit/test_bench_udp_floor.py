"""``duet bench udp-floor``: its options are checked before anything starts."""

from __future__ import annotations

import pytest

from benchmarks.udp_floor import FloorOptions
from duet.cli import main


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"callers": 3}, "--callers must be an even number"),
        ({"callers": 0}, "--callers must be an even number"),
        ({"pps": 0}, "--pps must be above 0"),
        ({"size": 5000}, "--size must be between"),
        ({"burst": 0}, "--burst must be between"),
        ({"duration": -1}, "--duration must be positive"),
    ],
)
def test_bad_options_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FloorOptions(**changes)  # type: ignore[arg-type]


def test_the_command_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "udp-floor", "--callers", "3"]) == 2
    assert "--callers must be an even number" in capsys.readouterr().err
