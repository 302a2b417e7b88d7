"""Fixtures shared by every test directory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sfu.aiortc_hooks import set_host_addresses
from tests.support.caller import DecodeErrors
from tests.support.servers import Coturn, DuetServer, run_coturn, run_duet


@pytest.fixture
def loopback_only() -> Iterator[None]:
    """Make aiortc peers of this test process gather host candidates on 127.0.0.1 only."""
    set_host_addresses(["127.0.0.1"])
    yield
    set_host_addresses([])


@pytest.fixture
def decode_errors() -> Iterator[DecodeErrors]:
    """Counts video frames the test callers (or an in-process SFU) failed to decode."""
    handler = DecodeErrors()
    receiver_logger = logging.getLogger("aiortc.rtcrtpreceiver")
    receiver_logger.addHandler(handler)
    yield handler
    receiver_logger.removeHandler(handler)


@pytest.fixture
def duet(tmp_path: Path, loopback_only: None) -> Iterator[DuetServer]:
    """A real ``duet serve`` on a free loopback port (transcode forwarding, SQLite)."""
    with run_duet(tmp_path) as server:
        yield server


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    """A real coturn on a free loopback port, relaying to loopback peers."""
    with run_coturn(tmp_path) as server:
        yield server


@pytest.fixture
async def callers() -> AsyncIterator[list[object]]:
    """A list that tests append callers to; every caller is closed at the end."""
    made: list[object] = []
    yield made
    for caller in made:
        await caller.close()  # type: ignore[attr-defined]
