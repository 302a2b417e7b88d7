"""``duet bench udp-floor``: what a bare uvloop UDP relay costs at a given packet rate.

The floor under any forwarding whose packets cross a Python asyncio event loop (Duet's
SFU: aioice's protocols on uvloop): a relay process holds one loopback socket per caller
and, from a Python ``datagram_received``, sends each datagram on at once to the caller's
partner (callers ``2k`` and ``2k + 1``); no SRTP, no RTP parsing, no RTCP, no signalling.
The sender (this process) sends ``pps`` datagrams of ``size`` bytes per second for each
caller from its own sockets and drains what the relay sends back.

Reported: the relay's CPU over the window (``/proc/PID/stat``, user + system) in cores,
per packet (µs per datagram received and sent on), and per call (a call: two callers);
compare with ``duet bench calls``'s server cores at the same packet rate (the node's
``duet_sfu_fast_path_packets_total`` per second). Assumes Linux (``/proc``) and that the
sender keeps up (``sent_pps`` says what it managed). The sender and relay share the
machine, but the relay does not compete with a WebRTC load generator's callers here, so
this is a floor, not the node's cost minus Duet's work.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console
from rich.table import Table

MAX_DATAGRAM = 1400
WARMUP_S = 2.0


@dataclass(frozen=True)
class FloorOptions:
    callers: int = 8
    pps: float = 172.0
    """Datagrams per second each caller sends (the bench's 4 calls, 8 callers: ≈ 172 each,
    audio and video together, at the default 640x480@30 and 1000 kbit/s)."""
    size: int = 1000
    burst: int = 1
    """Datagrams a caller sends back to back in its turn (a video frame's packets arrive
    together; 1: every datagram alone, each waking the relay)."""
    duration: float = 10.0
    json_path: Path | None = None

    def __post_init__(self) -> None:
        if self.callers < 2 or self.callers % 2:
            raise ValueError("--callers must be an even number, at least 2 (calls of two)")
        if not 0 < self.pps <= 5000:
            raise ValueError("--pps must be above 0 and at most 5000")
        if not 12 <= self.size <= MAX_DATAGRAM:
            raise ValueError(f"--size must be between 12 and {MAX_DATAGRAM} bytes")
        if not 1 <= self.burst <= 64:
            raise ValueError("--burst must be between 1 and 64")
        if self.duration <= 0:
            raise ValueError("--duration must be positive")


@dataclass
class FloorResult:
    callers: int
    pps_per_caller: float
    size: int
    burst: int
    window_s: float
    sent_pps: float
    """Datagrams per second the sender managed (all callers)."""
    returned_pps: float
    """Datagrams per second the sender got back from the relay."""
    relay_cores: float
    relay_us_per_packet: float
    relay_cores_per_call: float


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, index: int, sockets: list[asyncio.DatagramTransport], to: list[Any]):
        self.index, self.sockets, self.to = index, sockets, to

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        partner = self.index ^ 1
        self.sockets[partner].sendto(data, self.to[partner])


def _relay_main(callers: int, pipe: Connection) -> None:
    """The relay process: report its ports, learn where each caller listens, relay."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sockets: list[asyncio.DatagramTransport] = []
        to: list[Any] = [None] * callers
        for index in range(callers):
            transport, _ = await loop.create_datagram_endpoint(
                lambda index=index: _Relay(index, sockets, to),  # type: ignore[misc]
                local_addr=("127.0.0.1", 0),
            )
            sockets.append(transport)
        pipe.send([t.get_extra_info("sockname")[1] for t in sockets])
        for index, port in enumerate(pipe.recv()):
            to[index] = ("127.0.0.1", port)
        pipe.send("ready")
        await loop.run_in_executor(None, pipe.recv)  # until told to stop

    uvloop.run(main())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(MAX_DATAGRAM)
        except BlockingIOError:
            return count
        count += 1


def run_floor(options: FloorOptions) -> FloorResult:
    """Start the relay, send through it for ``WARMUP_S`` + ``duration``; measure the window."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    ours, theirs = context.Pipe()
    relay = context.Process(target=_relay_main, args=(options.callers, theirs), daemon=True)
    relay.start()
    sockets: list[socket.socket] = []
    try:
        if not ours.poll(30):
            raise RuntimeError("the relay process did not start")
        relay_ports: list[int] = ours.recv()
        for _ in range(options.callers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            sockets.append(sock)
        ours.send([s.getsockname()[1] for s in sockets])
        if not ours.poll(30) or ours.recv() != "ready":
            raise RuntimeError("the relay process did not get ready")
        assert relay.pid is not None
        payload = os.urandom(options.size)
        targets = [("127.0.0.1", port) for port in relay_ports]
        # ``burst`` datagrams at a time, callers in turn, evenly spaced: the relay is woken
        # as by callers whose packets arrive independently (one burst of every caller's
        # datagrams per round would let one wake-up carry them all).
        interval = options.burst / (options.pps * options.callers)
        start = time.monotonic()
        window_start = start + WARMUP_S
        end = window_start + options.duration
        sent = returned = window_sent = turns = 0
        cpu_before: float | None = None
        while (now := time.monotonic()) < end:
            if cpu_before is None and now >= window_start:
                cpu_before, window_sent, returned = _cpu_seconds(relay.pid), sent, 0
                window_start = now
            caller = turns % options.callers
            for _ in range(options.burst):
                sockets[caller].sendto(payload, targets[caller])
            sent += options.burst
            turns += 1
            if caller == options.callers - 1:
                returned += sum(_drain(sock) for sock in sockets)
            pause = start + turns * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        time.sleep(0.05)  # the last datagrams' way back
        returned += sum(_drain(sock) for sock in sockets)
        window = time.monotonic() - window_start
        cpu = _cpu_seconds(relay.pid) - (cpu_before or 0.0)
        sent -= window_sent
    finally:
        for sock in sockets:
            sock.close()
        ours.send("stop")
        relay.join(10)
        if relay.is_alive():
            relay.kill()
    cores = cpu / window
    packets_per_s = sent / window
    return FloorResult(
        callers=options.callers,
        pps_per_caller=options.pps,
        size=options.size,
        burst=options.burst,
        window_s=round(window, 2),
        sent_pps=round(packets_per_s, 1),
        returned_pps=round(returned / window, 1),
        relay_cores=round(cores, 4),
        relay_us_per_packet=round(cores / packets_per_s * 1e6, 1) if packets_per_s else 0.0,
        relay_cores_per_call=round(cores / (options.callers / 2), 4),
    )


def main(options: FloorOptions) -> int:
    """Run, print a table, write the JSON if asked; 1 if the relay lost over 1 % (the
    figure then says less about a relay that keeps up)."""
    console = Console()
    console.print(
        f"relaying {options.callers} callers x {options.pps:g} datagrams/s of "
        f"{options.size} bytes in bursts of {options.burst} for {WARMUP_S:g} + "
        f"{options.duration:g} s ..."
    )
    result = run_floor(options)
    table = Table(title="duet bench udp-floor: a bare uvloop relay")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in asdict(result).items():
        table.add_row(key, str(value))
    console.print(table)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(asdict(result), indent=1))
    if result.returned_pps < 0.99 * result.sent_pps:
        console.print("[red]the relay returned fewer than 99 % of the datagrams[/]")
        return 1
    return 0
