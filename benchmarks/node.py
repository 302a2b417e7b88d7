"""A ``duet serve`` of one's own on loopback, started for a run and stopped after it.

Used by the benchmarks that start their nodes themselves (``duet bench sfu``,
``duet bench calls --prescreen-compare``) and by the tests (``tests.support.servers``;
tests may import benchmarks, benchmarks never import tests).

Assumes the interpreter running this has Duet installed (the node is ``sys.executable -m
duet.cli serve``) and that the port is free (:func:`free_port` picks one; another process
could still take it first, in which case the node exits and :class:`NodeDidNotStart` says
so with its log).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
"""Where the node runs, so that ``benchmarks`` and ``tests`` classifiers can be plugged in
by module path."""

LOG_TAIL_CHARS = 4000
"""How much of the node's log a :class:`NodeDidNotStart` quotes."""


class NodeDidNotStart(RuntimeError):
    """The node exited, or did not answer ``/healthz`` as ready, in time; quotes its log."""


@dataclass
class LocalNode:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _always(health: dict[str, Any]) -> bool:
    return True


@contextlib.contextmanager
def local_node(
    env: Mapping[str, str],
    log_path: Path,
    port: int = 0,
    ready: Callable[[dict[str, Any]], bool] = _always,
    timeout: float = 60.0,
) -> Iterator[LocalNode]:
    """Start ``duet serve`` on 127.0.0.1 (``port``, or a free one) with ``env`` over this
    process's environment, its output in ``log_path``; yield it once ``/healthz`` answers
    and ``ready`` (given that JSON) says so; stop it (SIGTERM, then SIGKILL after 10 s)."""
    port = port or free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "duet.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    node = LocalNode(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        _wait_ready(node, ready, timeout)
        yield node
    finally:
        stop(process)


def _wait_ready(node: LocalNode, ready: Callable[[dict[str, Any]], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if node.process.poll() is not None:
            raise NodeDidNotStart(
                f"duet serve exited ({node.process.returncode}); its log {node.log_path}:\n"
                + node.log()[-LOG_TAIL_CHARS:]
            )
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = httpx.get(node.url + "/healthz", timeout=2)
            health = answer.json() if answer.status_code == 200 else None
            if isinstance(health, dict) and ready(health):
                return
        if time.monotonic() > deadline:
            raise NodeDidNotStart(
                f"duet serve was not ready within {timeout:.0f} s; its log {node.log_path}:\n"
                + node.log()[-LOG_TAIL_CHARS:]
            )
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``process`` and wait; SIGKILL it if it has not exited after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
