"""Real servers started by tests on loopback: ``duet serve`` and coturn."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.node import local_node, stop
from tests.support.net import free_port, free_port_range

LOOPBACK_ENV = {
    "DUET_SFU__HOST_ADDRESSES": '["127.0.0.1"]',
    # Most tests run the SFU in the signaling process (fast start); the cluster tests ask
    # for worker processes with DUET_SFU__WORKERS.
    "DUET_SFU__WORKERS": "0",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


DUET_COMMAND = [sys.executable, "-m", "duet.cli"]
"""The ``duet`` command, run from this checkout by the interpreter running the tests."""


@dataclass
class DuetServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    database_url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def counters(self, prefix: str = "duet_moderation_") -> str:
        """The node's ``/metrics`` lines starting with ``prefix`` (for failure messages)."""
        try:
            text = httpx.get(self.url + "/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            return f"(no /metrics: {exc})"
        return "\n".join(line for line in text.splitlines() if line.startswith(prefix))


@contextlib.contextmanager
def run_duet(
    tmp: Path, env: Mapping[str, str] | None = None, port: int = 0
) -> Iterator[DuetServer]:
    """Start ``duet serve`` on a free loopback port with a fresh SQLite database.

    Moderation is off unless ``env`` turns it on (``DUET_MODERATION__ENABLED=true``): tests
    that do not test it should not pay for loading models. The server runs from the
    repository root, so ``tests.support.classifiers`` can be plugged in as a classifier."""
    database_url = (env or {}).get("DUET_DATABASE_URL", f"sqlite+aiosqlite:///{tmp}/duet.sqlite3")
    full_env = {
        **LOOPBACK_ENV,
        "DUET_DATABASE_URL": database_url,
        "DUET_LOG_LEVEL": "info",
        "DUET_MODERATION__ENABLED": "false",
        "DUET_MODERATION__EVIDENCE_DIR": str(tmp / "evidence"),
        "DUET_DATA_DIR": str(tmp / "data"),
        **(env or {}),
    }
    port = port or free_port()
    with local_node(full_env, tmp / f"duet-{port}.log", port=port, timeout=30) as node:
        yield DuetServer(node.url, node.port, node.process, node.log_path, database_url)


def wait_moderation_ready(server: DuetServer, timeout: float = 30.0) -> None:
    """Wait until ``server`` (with moderation on) has a moderation worker ready."""
    deadline = time.monotonic() + timeout
    while httpx.get(server.url + "/healthz").json()["moderation"]["workers_ready"] < 1:
        assert time.monotonic() < deadline, server.log()[-4000:]
        time.sleep(0.1)


def create_reviewer(database_url: str, name: str, password: str, role: str = "moderator") -> None:
    """Make a console account the way an operator does (``duet admin create-user``, the
    password on stdin), in the database a node will use; before the node starts."""
    result = subprocess.run(
        [*DUET_COMMAND, "admin", "create-user", name, "--role", role, "--password-stdin"],
        input=password + "\n",
        env={**os.environ, "DUET_DATABASE_URL": database_url},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@dataclass
class Coturn:
    port: int
    secret: str
    realm: str
    process: subprocess.Popen[bytes]
    config_path: Path

    @property
    def udp_url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def region_env(self) -> dict[str, str]:
        """``DUET_*`` variables that make ``duet serve`` offer this coturn (UDP only)."""
        region = (
            '[{"name": "loopback", "host": "127.0.0.1", "latitude": 0, "longitude": 0, '
            f'"port": {self.port}, "transports": ["udp"]}}]'
        )
        return {"DUET_TURN__REGIONS": region, "DUET_TURN__SECRET": self.secret}


def coturn_config(tmp: Path, port: int, secret: str, realm: str) -> str:
    low, high = free_port_range(40)
    return "\n".join(
        [
            "listening-ip=127.0.0.1",
            f"listening-port={port}",
            "relay-ip=127.0.0.1",
            f"min-port={low}",
            f"max-port={high}",
            "use-auth-secret",
            f"static-auth-secret={secret}",
            f"realm={realm}",
            "allow-loopback-peers",
            "no-cli",
            "no-tls",
            "no-dtls",
            "fingerprint",
            f"pidfile={tmp}/turnserver.pid",
            f"userdb={tmp}/turndb.sqlite",
            "log-file=stdout",
            "simple-log",
            "",
        ]
    )


def stun_answers(port: int, timeout: float = 0.3) -> bool:
    """Whether a STUN binding request to 127.0.0.1:``port`` (UDP) gets an answer."""
    request = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, secrets.token_bytes(12))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[8:20] == request[8:20]


@contextlib.contextmanager
def run_coturn(
    tmp: Path, config_text: str | None = None, secret: str = "test-turn-secret", port: int = 0
) -> Iterator[Coturn]:
    """Start a real coturn on loopback (``port``, or a fresh one); ready once it answers
    STUN; stopped by the PID in its pidfile (coturn may fork; a stale server on the same
    port would silently share it thanks to SO_REUSEPORT, hence fresh ports).

    ``config_text`` is used as is when given (it must listen on ``port`` and write its
    pidfile to ``tmp/turnserver.pid``)."""
    port = port or free_port(kind=socket.SOCK_DGRAM)
    realm = "duet.test"
    config = config_text or coturn_config(tmp, port, secret, realm)
    path = tmp / "turnserver.conf"
    path.write_text(config)
    log_path = tmp / "turnserver.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        ["turnserver", "-c", str(path)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while not stun_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("turnserver did not start:\n" + log_path.read_text())
            time.sleep(0.05)
        yield Coturn(port, secret, realm, process, path)
    finally:
        pidfile = tmp / "turnserver.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            if pid != process.pid:
                os.kill(pid, signal.SIGTERM)
        stop(process)
        log.close()
