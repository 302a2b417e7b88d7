"""Rendering the nginx configuration from ``configs/nginx.conf.template``.

nginx terminates TLS and balances visitors over several Duet nodes (docs/deploy.md). The
template's placeholders are ``{{name}}`` (nginx itself uses ``$``); every one must be
filled, and every value is checked so that nothing a caller passes can add nginx
directives (no ``;``, braces, quotes or whitespace where none belong).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "configs" / "nginx.conf.template"

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9*._-]+$")
_NODE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
_LISTEN = re.compile(r"^((\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(\d{1,5})$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9/._-]+$")


class NginxConfigError(ValueError):
    """A value that cannot go into the configuration (the message says which)."""


@dataclass(frozen=True)
class NginxSite:
    """What the rendered configuration serves."""

    nodes: Sequence[str]
    """Duet nodes as ``host:port`` (their ``host``/``port`` settings)."""
    server_name: str
    """The public host name(s) of the site (space-separated)."""
    certificate: Path
    certificate_key: Path
    listen_https: str = "443"
    """``port`` or ``address:port``."""
    listen_http: str = "80"
    """``port`` or ``address:port``: redirects to https."""
    proxy_bind: str | None = None
    """The local address nginx connects to the nodes from (list it in the nodes'
    ``trusted_proxies``); ``None``: the system picks one."""
    access_log: str = "/var/log/nginx/duet.access.log"
    metrics_allow: Sequence[str] = field(default_factory=tuple)
    """CIDRs allowed to read ``/metrics`` through nginx (default: nobody)."""


def render(site: NginxSite, template: Path = TEMPLATE) -> str:
    """The configuration text; raises :class:`NginxConfigError` on a bad value."""
    if not site.nodes:
        raise NginxConfigError("at least one node (host:port) is needed")
    for node in site.nodes:
        match = _NODE.match(node)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise NginxConfigError(f"node {node!r} is not host:port")
    names = site.server_name.split()
    if not names or not all(_SERVER_NAME.match(name) for name in names):
        raise NginxConfigError(f"server name {site.server_name!r} is not a host name")
    for what, value in (("listen_https", site.listen_https), ("listen_http", site.listen_http)):
        match = _LISTEN.match(value)
        if match is None or not 0 < int(match.group(3)) < 65536:
            raise NginxConfigError(f"{what} {value!r} is not a port or address:port")
    for what, path in (
        ("certificate", str(site.certificate)),
        ("certificate key", str(site.certificate_key)),
        ("access log", site.access_log),
    ):
        if not _SAFE_PATH.match(path):
            raise NginxConfigError(f"{what} path {path!r} has characters nginx would misread")
    bind = ""
    if site.proxy_bind:
        bind = f"    proxy_bind {_address(site.proxy_bind, 'proxy_bind')};"
    allow = (
        "\n".join(f"        allow {_network(cidr)};" for cidr in site.metrics_allow)
        or "        # allow 10.0.0.0/8;  (duet nginx config --metrics-allow)"
    )
    values = {
        "upstream_servers": "\n".join(f"    server {node};" for node in site.nodes),
        "server_name": " ".join(names),
        "certificate": str(site.certificate),
        "certificate_key": str(site.certificate_key),
        "listen_https": site.listen_https,
        "listen_http": site.listen_http,
        "proxy_bind": bind,
        "access_log": site.access_log,
        "metrics_allow": allow,
    }
    text = template.read_text()
    missing = set(_PLACEHOLDER.findall(text)) - set(values)
    if missing:
        raise NginxConfigError(f"the template has unknown placeholders: {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _address(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise NginxConfigError(f"{what} {value!r} is not an IP address") from None


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise NginxConfigError(f"{value!r} is not a CIDR") from None
