"""The ICE configuration handed to a browser (``RTCConfiguration`` JSON)."""

from __future__ import annotations

from typing import Any

from turn.credentials import make_credential
from turn.settings import TurnSettings


def ice_configuration(
    settings: TurnSettings, now: float, user: str | None = None
) -> dict[str, Any]:
    """``{"iceServers": [...], "iceTransportPolicy": ..., "ttl": ...}`` for one browser.

    STUN servers need no credential; TURN servers share one fresh time-limited credential.
    """
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.urls:
        credential = make_credential(
            settings.secret.get_secret_value(), settings.ttl_seconds, now, user
        )
        servers.append(
            {
                "urls": list(settings.urls),
                "username": credential.username,
                "credential": credential.password,
            }
        )
    return {
        "iceServers": servers,
        "iceTransportPolicy": "relay" if settings.force_relay else "all",
        "ttl": settings.ttl_seconds,
    }
