"""The ICE configuration handed to a browser (``RTCConfiguration`` JSON)."""

from __future__ import annotations

from typing import Any

from turn.credentials import make_credential
from turn.regions import Location, Locator, nearest
from turn.settings import TurnRegion, TurnSettings


def region_urls(region: TurnRegion) -> list[str]:
    """A region's TURN URLs in the order browsers should try them: UDP, TCP, TLS on 443."""
    urls = {
        "udp": f"turn:{region.host}:{region.port}?transport=udp",
        "tcp": f"turn:{region.host}:{region.port}?transport=tcp",
        "tls": f"turns:{region.host}:{region.tls_port}?transport=tcp",
    }
    return [urls[t] for t in ("udp", "tcp", "tls") if t in region.transports]


def ice_configuration(
    settings: TurnSettings, regions: list[TurnRegion], now: float, user: str | None = None
) -> dict[str, Any]:
    """``{"iceServers": [...], "iceTransportPolicy": ..., "ttl": ...}`` offering ``regions``.

    STUN servers need no credential; every TURN server shares one fresh time-limited
    credential (coturn's ``use-auth-secret`` scheme)."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if regions:
        credential = make_credential(settings.shared_secret(), settings.ttl_seconds, now, user)
        for region in regions:
            servers.append(
                {
                    "urls": region_urls(region),
                    "username": credential.username,
                    "credential": credential.password,
                }
            )
    return {
        "iceServers": servers,
        "iceTransportPolicy": "relay" if settings.force_relay else "all",
        "ttl": settings.ttl_seconds,
    }


class IceServers:
    """Chooses the nearest TURN regions for each browser and signs their credentials."""

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self._locator = (
            Locator(settings.geoip_database) if settings.geoip_database is not None else None
        )
        by_name = {r.name: r for r in settings.regions}
        default = by_name.get(settings.default_region) or (
            settings.regions[0] if settings.regions else None
        )
        self._default = None if default is None else Location(default.latitude, default.longitude)

    def regions_for(self, ip: str) -> list[TurnRegion]:
        """The nearest ``settings.nearest`` regions to the browser at ``ip``."""
        if self._default is None:
            return []
        where = self._locator.locate(ip) if self._locator is not None else None
        return nearest(self.settings.regions, where or self._default, self.settings.nearest)

    def for_browser(self, ip: str, now: float, user: str | None = None) -> dict[str, Any]:
        return ice_configuration(self.settings, self.regions_for(ip), now, user)

    def close(self) -> None:
        if self._locator is not None:
            self._locator.close()
