"""TURN through a real coturn on loopback, configured by `duet turn config`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aioice import stun, turn
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from tests.support.caller import Caller
from tests.support.door import open_session
from tests.support.net import free_port, free_port_range
from tests.support.servers import Coturn, DuetServer, run_coturn, run_duet
from turn.credentials import make_credential

SECRET = "loopback-turn-secret"
RED, GREEN = (210, 40, 40), (40, 200, 60)


def render_coturn_config(tmp: Path, port: int) -> str:
    """`duet turn config` with loopback settings and the test-only switch."""
    low, high = free_port_range(40)
    env = {
        **os.environ,
        "DUET_TURN__SECRET": SECRET,
        "DUET_TURN__COTURN__LISTENING_IP": "127.0.0.1",
        "DUET_TURN__COTURN__LISTENING_PORT": str(port),
        "DUET_TURN__COTURN__RELAY_IP": "127.0.0.1",
        "DUET_TURN__COTURN__MIN_PORT": str(low),
        "DUET_TURN__COTURN__MAX_PORT": str(high),
        "DUET_TURN__COTURN__REALM": "duet.test",
    }
    extra = [
        f"pidfile={tmp}/turnserver.pid",
        f"userdb={tmp}/turndb.sqlite",
        "log-file=stdout",
        "simple-log",
    ]
    args = [sys.executable, "-m", "duet.cli", "turn", "config", "--allow-loopback-peers"]
    for line in extra:
        args += ["--extra", line]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


@pytest.fixture
def coturn_rendered(tmp_path: Path) -> Iterator[Coturn]:
    port = free_port(kind=2)
    config = render_coturn_config(tmp_path, port)
    with run_coturn(tmp_path, config_text=config, secret=SECRET, port=port) as server:
        yield server


def test_rendered_config_denies_private_peers_and_uses_the_secret(tmp_path: Path) -> None:
    config = render_coturn_config(tmp_path, 3478)
    lines = config.splitlines()
    assert "use-auth-secret" in lines and f"static-auth-secret={SECRET}" in lines
    assert "mobility" in lines and "no-multicast-peers" in lines
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in lines
    assert "denied-peer-ip=192.168.0.0-192.168.255.255" in lines
    # The test-only switch: loopback relaying allowed, so 127/8 is not denied.
    assert "allow-loopback-peers" in lines and "no-cli" in lines
    assert not any(line.startswith("denied-peer-ip=127.") for line in lines)
    production = subprocess.run(
        [sys.executable, "-m", "duet.cli", "turn", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "allow-loopback-peers" not in production
    assert "denied-peer-ip=127.0.0.0-127.255.255.255" in production.splitlines()


async def _allocate(server: Coturn, username: str, password: str) -> tuple[str, int]:
    transport, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=("127.0.0.1", server.port),
        username=username,
        password=password,
    )
    try:
        return transport.get_extra_info("sockname")  # type: ignore[no-any-return]
    finally:
        transport.close()


async def test_coturn_accepts_fresh_credentials_and_refuses_bad_ones(
    coturn_rendered: Coturn,
) -> None:
    good = make_credential(SECRET, ttl_seconds=600, now=time.time(), user="v_test")
    relayed = await _allocate(coturn_rendered, good.username, good.password)
    assert relayed[0] == "127.0.0.1"
    wrong = make_credential("not-the-secret", ttl_seconds=600, now=time.time())
    with pytest.raises(stun.TransactionFailed):
        await _allocate(coturn_rendered, wrong.username, wrong.password)
    expired = make_credential(SECRET, ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(stun.TransactionFailed):
        await _allocate(coturn_rendered, expired.username, expired.password)


@pytest.fixture
def duet_with_turn(
    tmp_path: Path, coturn_rendered: Coturn, loopback_only: None
) -> Iterator[DuetServer]:
    with run_duet(tmp_path, coturn_rendered.region_env()) as server:
        yield server


async def test_relay_only_caller_reaches_the_sfu_through_coturn(
    duet_with_turn: DuetServer, coturn_rendered: Coturn, callers: list[object]
) -> None:
    async with httpx.AsyncClient() as client:
        token = (await open_session(duet_with_turn.url))["token"]
        ice = (await client.get(duet_with_turn.url + "/api/ice", params={"token": token})).json()
    (server,) = ice["iceServers"]
    assert server["urls"] == [f"turn:127.0.0.1:{coturn_rendered.port}?transport=udp"]
    relay_config = RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server["urls"][0], username=server["username"], credential=server["credential"]
            )
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )
    relayed = await Caller(duet_with_turn.ws_url, RED, relay_config).connect()
    direct = await Caller(duet_with_turn.ws_url, GREEN).connect()
    callers.extend([relayed, direct])
    await relayed.join("video")
    await direct.join("video")
    await relayed.wait_for("matched")
    await relayed.wait_frames_like(GREEN, count=10, timeout=20)
    await direct.wait_frames_like(RED, count=10, timeout=20)
    assert relayed.pc is not None
    assert "typ relay" in relayed.pc.localDescription.sdp
    assert "typ host" not in relayed.pc.localDescription.sdp
    transport = relayed.pc.getTransceivers()[0].receiver.transport.transport
    (pair,) = transport._connection._nominated.values()
    assert pair.local_candidate.type == "relay"
