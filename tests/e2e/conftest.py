"""Fixtures for browser tests: coturn and ``duet serve`` on loopback, headless Chromium.

Every packet stays on 127.0.0.0/8. Chromium never gathers 127.0.0.1 candidates, so its
media goes through a real coturn listening and relaying on 127.0.0.1 (the server tells the
browser ``iceTransportPolicy: "relay"``), and the SFU gathers on 127.0.0.1 only.

These are local to ``tests/e2e`` until shared fixtures for servers land in
``tests/conftest.py``; names are prefixed ``e2e_`` so they cannot shadow those.
"""

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    async_playwright,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]

# Records every stream getUserMedia hands out, every WebSocket and every RTCPeerConnection
# made, so a test can check that the camera was stopped (all tracks "ended"), drop the
# server connection, and see which ICE path media took, without the app exposing anything
# for tests.
INSTRUMENT_SCRIPT = """
(() => {
  window.__duetStreams = [];
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    window.__duetStreams.push(stream);
    return stream;
  };
  window.__duetSockets = [];
  const OriginalSocket = window.WebSocket;
  window.WebSocket = class extends OriginalSocket {
    constructor(...args) {
      super(...args);
      window.__duetSockets.push(this);
    }
  };
  window.__duetPeers = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Original {
    constructor(...args) {
      super(...args);
      window.__duetPeers.push(this);
    }
  };
})();
"""


# --- ports and waiting ----------------------------------------------------------------


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_range(size: int) -> tuple[int, int]:
    """``size`` consecutive UDP ports on 127.0.0.1 that were free a moment ago."""
    for _ in range(50):
        start = free_port(socket.SOCK_DGRAM)
        if start + size > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(start, start + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no free UDP port range on 127.0.0.1")


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


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} within {timeout} s")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


# --- coturn -----------------------------------------------------------------------------


@dataclass
class Coturn:
    port: int
    secret: str
    pidfile: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _coturn_config(tmp: Path, port: int, secret: str) -> str:
    low, high = free_udp_range(40)
    lines = [
        "listening-ip=127.0.0.1",
        f"listening-port={port}",
        "relay-ip=127.0.0.1",
        f"min-port={low}",
        f"max-port={high}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        "realm=duet.test",
        "allow-loopback-peers",  # relaying to 127.0.0.1: tests only
        "no-cli",
        "no-tls",
        "no-dtls",
        "fingerprint",
        f"pidfile={tmp}/turnserver.pid",
        f"userdb={tmp}/turndb.sqlite",
        "log-file=stdout",
        "simple-log",
    ]
    return "\n".join(lines) + "\n"


def _stop_coturn(process: subprocess.Popen[bytes], pidfile: Path) -> None:
    """Stop coturn by the PID in its pidfile (falling back to the child we started)."""
    pid = process.pid
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def e2e_coturn(tmp_path: Path) -> Iterator[Coturn]:
    """A real coturn on a fresh loopback port, relaying to loopback peers."""
    tmp = tmp_path / "coturn"
    tmp.mkdir()
    port = free_port(socket.SOCK_DGRAM)
    secret = secrets.token_hex(16)
    config = tmp / "turnserver.conf"
    config.write_text(_coturn_config(tmp, port, secret))
    log_path = tmp / "turnserver.log"
    server = Coturn(port, secret, tmp / "turnserver.pid", log_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["turnserver", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        try:
            wait_until(lambda: stun_answers(port), 10, "coturn did not answer STUN")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{server.log()}") from None
        yield server
    finally:
        _stop_coturn(process, server.pidfile)


# --- duet serve -------------------------------------------------------------------------


@dataclass
class DuetServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def e2e_duet(tmp_path: Path, e2e_coturn: Coturn) -> Iterator[DuetServer]:
    """``duet serve`` on a free loopback port, handing browsers relay-only TURN config."""
    port = free_port()
    env = {
        **os.environ,
        "DUET_SFU__HOST_ADDRESSES": '["127.0.0.1"]',
        "DUET_TURN__URLS": f'["{e2e_coturn.url}"]',
        "DUET_TURN__SECRET": e2e_coturn.secret,
        "DUET_TURN__FORCE_RELAY": "true",
        "DUET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        # Two visitors who parted are paired again after 1 s (Next is testable with two).
        "DUET_MATCHING__REMATCH_COOLDOWN_S": "1",
    }
    log_path = tmp_path / "duet.log"
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
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = DuetServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        try:
            wait_until(
                lambda: process.poll() is not None or http_ok(server.url + "/healthz"),
                30,
                "duet serve did not answer /healthz",
            )
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{server.log()}") from None
        if process.poll() is not None:
            raise RuntimeError("duet serve exited:\n" + server.log())
        yield server
    finally:
        _stop_process(process)


# --- Chromium ----------------------------------------------------------------------------


@dataclass
class PageRecord:
    """A page plus what it reported: dialogs that opened and console errors."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


OpenPage = Callable[..., Awaitable[PageRecord]]


@pytest.fixture
async def open_page(browser: Browser, e2e_duet: DuetServer) -> AsyncIterator[OpenPage]:
    """Open the app in a fresh browser context (a separate visitor) per call."""
    contexts: list[BrowserContext] = []

    async def open_one(init_script: str | None = None) -> PageRecord:
        """A new visitor; ``init_script`` runs in the page before the app (e.g. to fake a
        browser failure)."""
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        context.set_default_timeout(8_000)
        await context.add_init_script(INSTRUMENT_SCRIPT)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        record = PageRecord(page)

        async def on_dialog(dialog: Dialog) -> None:
            record.dialogs.append(dialog.message)
            await dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                record.errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: record.errors.append(str(exc)))
        await page.goto(e2e_duet.url + "/")
        return record

    try:
        yield open_one
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                await context.close()
