"""Rendering a coturn configuration from ``configs/turnserver.conf.template``.

The template uses ``string.Template`` placeholders (``$name``); this module computes each
block from :class:`~turn.settings.TurnSettings`. Peers in private, loopback, link-local and
documentation ranges are denied so the relay cannot be used to reach them; the test-only
``allow_loopback`` switch lets coturn relay to 127.0.0.1 (and turns the CLI off, which
coturn requires with it).
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from turn.settings import TurnSettings

TEMPLATE = Path(__file__).resolve().parents[1] / "configs" / "turnserver.conf.template"

DENIED_PEER_RANGES = [
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.0.2.0-192.0.2.255",
    "192.88.99.0-192.88.99.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "198.51.100.0-198.51.100.255",
    "203.0.113.0-203.0.113.255",
    "240.0.0.0-255.255.255.255",
    "::1",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "::ffff:0.0.0.0-::ffff:255.255.255.255",
    "2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
    "2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
]


def render(
    settings: TurnSettings,
    template: Path = TEMPLATE,
    allow_loopback: bool = False,
    allowed_peer_ips: list[str] | None = None,
    extra: list[str] | None = None,
) -> str:
    """The coturn configuration text.

    ``allow_loopback`` is for tests on one machine only. ``allowed_peer_ips`` exempts
    addresses (such as an SFU's private address) from the denied ranges. ``extra`` lines
    are appended as they are (``pidfile=...``, ``log-file=...``)."""
    coturn = settings.coturn
    tls_lines = "no-tls\nno-dtls"
    if coturn.cert_file:
        tls_lines = (
            f"tls-listening-port={coturn.tls_listening_port}\n"
            f"cert={coturn.cert_file}\npkey={coturn.pkey_file}\nno-dtls"
        )
    relay = []
    if coturn.relay_ip:
        relay.append(f"relay-ip={coturn.relay_ip}")
    if coturn.external_ip:
        relay.append(f"external-ip={coturn.external_ip}")
    rules = [f"allowed-peer-ip={ip}" for ip in allowed_peer_ips or []]
    for denied in DENIED_PEER_RANGES:
        if allow_loopback and denied.startswith("127."):
            continue
        rules.append(f"denied-peer-ip={denied}")
    extra_lines = list(extra or [])
    if allow_loopback:
        extra_lines = ["# TEST ONLY: relay to loopback peers.", "allow-loopback-peers", "no-cli"]
        extra_lines += list(extra or [])
    text = Template(template.read_text()).substitute(
        listening_ip=coturn.listening_ip,
        listening_port=coturn.listening_port,
        tls_lines=tls_lines,
        relay_lines="\n".join(relay),
        min_port=coturn.min_port,
        max_port=coturn.max_port,
        secret=settings.shared_secret(),
        realm=coturn.realm,
        peer_rules="\n".join(rules),
        extra_lines="\n".join(extra_lines),
    )
    return "\n".join(line for line in text.splitlines()) + "\n"
