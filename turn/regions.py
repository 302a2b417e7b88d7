"""Choosing the TURN regions nearest to a browser.

Fewer TURN servers mean fewer ICE candidates and faster connection set-up, so a browser is
given only the ``k`` nearest regions. The browser's location comes from an optional MaxMind
City database (``maxminddb``); without one, or for addresses it does not know (private,
loopback), the default region stands in for the browser's location.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from turn.settings import TurnRegion

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest(regions: list[TurnRegion], where: Location, k: int) -> list[TurnRegion]:
    """The ``k`` regions closest to ``where``, closest first (ties keep config order)."""
    ranked = sorted(
        enumerate(regions),
        key=lambda item: (
            distance_km(where, Location(item[1].latitude, item[1].longitude)),
            item[0],
        ),
    )
    return [region for _, region in ranked[:k]]


class Locator:
    """Looks browsers up in a MaxMind City database (opened once, read-only)."""

    def __init__(self, database: Path) -> None:
        self._reader = maxminddb.open_database(str(database))

    def locate(self, ip: str) -> Location | None:
        """The browser's approximate location, or ``None`` if unknown."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if not address.is_global:
            return None
        record: Any = self._reader.get(address)
        if not isinstance(record, dict):
            return None
        location = record.get("location")
        if not isinstance(location, dict):
            return None
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if not isinstance(latitude, (int, float)) or not isinstance(longitude, (int, float)):
            return None
        return Location(float(latitude), float(longitude))

    def close(self) -> None:
        self._reader.close()
