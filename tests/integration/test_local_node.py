"""``benchmarks.node.local_node``: the node the benchmarks and tests start for themselves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from benchmarks.node import NodeDidNotStart, free_port, local_node
from tests.support.servers import LOOPBACK_ENV


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **LOOPBACK_ENV,
        "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        "DUET_MODERATION__ENABLED": "false",
    }


def test_a_node_runs_until_the_block_ends(tmp_path: Path) -> None:
    with local_node(_env(tmp_path), tmp_path / "duet.log") as node:
        assert httpx.get(node.url + "/healthz").json()["status"] == "ok"
        process = node.process
    assert process.poll() is not None  # stopped on leaving the block


def test_a_node_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "DUET_SFU__FORWARDING": "carrier-pigeon"}
    with (
        pytest.raises(NodeDidNotStart, match="exited") as failure,
        local_node(env, tmp_path / "duet.log"),
    ):
        pass
    assert "sfu.forwarding: Input should be" in str(failure.value)  # the node's own words


def test_a_node_never_ready_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    port = free_port()
    seen: list[dict[str, object]] = []

    def never(health: dict[str, object]) -> bool:
        seen.append(health)
        return False

    with (
        pytest.raises(NodeDidNotStart, match="not ready within 3 s") as failure,
        local_node(_env(tmp_path), tmp_path / "duet.log", port=port, ready=never, timeout=3),
    ):
        pass
    assert "duet.log" in str(failure.value)
    assert seen and seen[-1]["status"] == "ok"  # it answered; `ready` said no
    with pytest.raises(httpx.ConnectError):  # and it was stopped
        httpx.get(f"http://127.0.0.1:{port}/healthz")
