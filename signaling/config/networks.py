"""Networks in settings (``trusted_proxies``): CIDRs, parsed once, shared by the settings
validator and the proxy-header middleware."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (a bare address means a single host). Raises ``ValueError`` on a bad one."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)
