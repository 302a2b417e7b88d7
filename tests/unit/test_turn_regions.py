"""Nearest TURN regions, with and without a GeoIP database."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from turn import IceServers, TurnRegion, TurnSettings
from turn.regions import Location, distance_km, nearest

NYC = TurnRegion(name="nyc", host="turn-nyc.example.org", latitude=40.71, longitude=-74.01)
AMS = TurnRegion(name="ams", host="turn-ams.example.org", latitude=52.37, longitude=4.90)
SGP = TurnRegion(name="sgp", host="turn-sgp.example.org", latitude=1.35, longitude=103.82)
REGIONS = [NYC, AMS, SGP]


def test_distance_is_great_circle() -> None:
    assert distance_km(Location(52.37, 4.90), Location(52.37, 4.90)) == 0
    # Amsterdam - New York is about 5,860 km.
    assert 5800 < distance_km(Location(52.37, 4.90), Location(40.71, -74.01)) < 5900


def test_nearest_orders_by_distance_and_limits_to_k() -> None:
    berlin = Location(52.52, 13.40)
    assert [r.name for r in nearest(REGIONS, berlin, 2)] == ["ams", "nyc"]
    tokyo = Location(35.68, 139.69)
    assert [r.name for r in nearest(REGIONS, tokyo, 1)] == ["sgp"]
    assert [r.name for r in nearest(REGIONS, tokyo, 10)] == ["sgp", "ams", "nyc"]


@pytest.fixture
def geoip(tmp_path: Path) -> Path:
    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-City")
    writer.insert_network(
        IPSet(["81.2.69.0/24"]), {"location": {"latitude": 51.5, "longitude": -0.1}}
    )
    writer.insert_network(
        IPSet(["175.16.199.0/24"]), {"location": {"latitude": 43.9, "longitude": 125.3}}
    )
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))
    return path


def test_browsers_get_the_regions_nearest_to_them(geoip: Path) -> None:
    ice = IceServers(TurnSettings(regions=REGIONS, geoip_database=geoip, default_region="nyc"))
    try:
        assert [r.name for r in ice.regions_for("81.2.69.160")] == ["ams", "nyc"]  # London
        assert [r.name for r in ice.regions_for("175.16.199.10")] == ["sgp", "ams"]  # Changchun
        # Unknown, private or malformed addresses fall back to the default region.
        for ip in ("8.8.8.8", "10.1.2.3", "127.0.0.1", "not-an-ip", ""):
            assert ice.regions_for(ip)[0].name == "nyc", ip
    finally:
        ice.close()


def test_without_geoip_the_default_region_decides() -> None:
    ice = IceServers(TurnSettings(regions=REGIONS, default_region="sgp", nearest=1))
    assert [r.name for r in ice.regions_for("81.2.69.160")] == ["sgp"]
    first = IceServers(TurnSettings(regions=REGIONS))
    assert [r.name for r in first.regions_for("81.2.69.160")] == ["nyc", "ams"]
    assert IceServers(TurnSettings()).for_browser("1.2.3.4", now=0)["iceServers"] == []


def test_each_region_offers_udp_tcp_and_tls_on_443_with_one_credential() -> None:
    ice = IceServers(TurnSettings(regions=[AMS, NYC], secret="s3cr3t"))  # type: ignore[arg-type]
    config = ice.for_browser("10.0.0.1", now=1_700_000_000, user="v_1")
    ams, nyc = config["iceServers"]
    assert ams["urls"] == [
        "turn:turn-ams.example.org:3478?transport=udp",
        "turn:turn-ams.example.org:3478?transport=tcp",
        "turns:turn-ams.example.org:443?transport=tcp",
    ]
    assert ams["username"] == nyc["username"] == "1700086400:v_1"
    assert ams["credential"] == nyc["credential"]


def test_settings_refuse_inconsistent_regions() -> None:
    with pytest.raises(ValueError, match="unique"):
        TurnSettings(regions=[AMS, AMS])
    with pytest.raises(ValueError, match="not a region"):
        TurnSettings(regions=[AMS], default_region="lon")
    with pytest.raises(ValueError, match="needs at least one region"):
        TurnSettings(force_relay=True)
