"""Real servers started by tests on loopback: ``duet serve`` and coturn."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.net import free_port, free_port_range, wait_http

LOOPBACK_ENV = {"DUET_SFU__HOST_ADDRESSES": '["127.0.0.1"]'}
REPO_ROOT = Path(__file__).resolve().parents[2]


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


@contextlib.contextmanager
def run_duet(tmp: Path, env: Mapping[str, str] | None = None) -> Iterator[DuetServer]:
    """Start ``duet serve`` on a free loopback port with a fresh SQLite database.

    Moderation is off unless ``env`` turns it on (``DUET_MODERATION__ENABLED=true``): tests
    that do not test it should not pay for loading models. The server runs from the
    repository root, so ``tests.support.classifiers`` can be plugged in as a classifier."""
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp}/duet.sqlite3"
    full_env = {
        **os.environ,
        **LOOPBACK_ENV,
        "DUET_DATABASE_URL": database_url,
        "DUET_LOG_LEVEL": "info",
        "DUET_MODERATION__ENABLED": "false",
        "DUET_MODERATION__EVIDENCE_DIR": str(tmp / "evidence"),
        **(env or {}),
    }
    log_path = tmp / f"duet-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "signaling.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=full_env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = DuetServer(f"http://127.0.0.1:{port}", port, process, log_path, database_url)
    try:
        try:
            wait_http(server.url + "/healthz", timeout=30)
        except TimeoutError:
            raise RuntimeError("duet serve did not start:\n" + server.log()) from None
        yield server
    finally:
        _stop(process)


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


@contextlib.contextmanager
def run_coturn(
    tmp: Path, config_text: str | None = None, secret: str = "test-turn-secret", port: int = 0
) -> Iterator[Coturn]:
    """Start a real coturn on loopback (``port``, or a fresh one); stop it by PID.

    ``config_text`` is used as is when given (it must listen on ``port``)."""
    port = port or free_port(kind=2)  # SOCK_DGRAM
    realm = "duet.test"
    config = config_text or coturn_config(tmp, port, secret, realm)
    path = tmp / "turnserver.conf"
    path.write_text(config)
    log = (tmp / "turnserver.log").open("wb")
    process = subprocess.Popen(
        ["turnserver", "-c", str(path)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(0.3)
        if process.poll() is not None:
            raise RuntimeError("turnserver exited:\n" + (tmp / "turnserver.log").read_text())
        yield Coturn(port, secret, realm, process, path)
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
