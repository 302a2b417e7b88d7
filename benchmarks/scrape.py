"""Reading a Duet node over HTTP: ``/healthz`` to check it is there, ``/metrics`` for what
the server process spends (``process_cpu_seconds_total``, ``process_resident_memory_bytes``)
and for its own counters. Also this machine's CPU use from ``/proc/stat`` (Linux), so a
report can say whether the machine itself was saturated while it measured.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families


class ServerUnreachable(Exception):
    """The node did not answer (connection refused, timeout, not a Duet node)."""


@dataclass(frozen=True)
class Sample:
    """One scrape of ``/metrics``."""

    at: float
    """``time.monotonic()`` when the answer arrived."""
    values: dict[str, float] = field(default_factory=dict)
    """``name{label="value",...}`` (labels sorted) -> value, for every sample."""
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """Labels of single-series info metrics such as ``duet_build_info``."""

    def get(self, name: str, **labels: str) -> float | None:
        return self.values.get(series_key(name, labels))

    def total(self, name: str) -> float:
        """Sum of every series of ``name`` (all label values)."""
        prefix = name + "{"
        return sum(v for k, v in self.values.items() if k == name or k.startswith(prefix))

    @property
    def cpu_seconds(self) -> float | None:
        return self.get("process_cpu_seconds_total")

    @property
    def rss_bytes(self) -> float | None:
        return self.get("process_resident_memory_bytes")


def series_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def parse_metrics(text: str, at: float) -> Sample:
    """Parse the Prometheus text format."""
    values: dict[str, float] = {}
    info: dict[str, dict[str, str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[series_key(sample.name, dict(sample.labels))] = float(sample.value)
            # Info metrics (``*_info`` = 1) carry their data in labels; the text format
            # declares them as gauges.
            if sample.name.endswith("_info") and sample.labels:
                info[sample.name] = dict(sample.labels)
    return Sample(at=at, values=values, labels=info)


class NodeClient:
    """HTTP access to one node (timeouts are short: a bench must not hang on a dead node)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, object]:
        """``/healthz``'s JSON; raises :class:`ServerUnreachable` with a readable reason."""
        try:
            answer = self._http.get(self.url + "/healthz")
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"cannot reach {self.url}: {_reason(exc)}") from None
        if answer.status_code != 200:
            raise ServerUnreachable(
                f"{self.url}/healthz answered HTTP {answer.status_code}: is this a Duet node?"
            )
        try:
            body = answer.json()
        except ValueError:
            raise ServerUnreachable(f"{self.url}/healthz did not answer JSON") from None
        if not isinstance(body, dict):
            raise ServerUnreachable(f"{self.url}/healthz did not answer a JSON object")
        return body

    def metrics(self) -> Sample | None:
        """One scrape of ``/metrics``, or ``None`` if the node has none or did not answer."""
        try:
            answer = self._http.get(self.url + "/metrics")
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        return parse_metrics(answer.text, time.monotonic())


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused (is `duet serve` running there?)"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class MachineCpu:
    """Cumulative CPU time of this machine, from ``/proc/stat`` (seconds)."""

    busy: float
    total: float

    @classmethod
    def read(cls) -> MachineCpu | None:
        try:
            with open("/proc/stat") as stat:
                fields = stat.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        ticks = [int(x) for x in fields[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        # Guests are already counted in user/nice.
        total = sum(ticks[:8])
        hz = os.sysconf("SC_CLK_TCK")
        return cls(busy=(total - idle) / hz, total=total / hz)


def busy_cores(before: MachineCpu | None, after: MachineCpu | None, seconds: float) -> float | None:
    """Cores' worth of this machine that were busy between two readings."""
    if before is None or after is None or seconds <= 0:
        return None
    return (after.busy - before.busy) / seconds
