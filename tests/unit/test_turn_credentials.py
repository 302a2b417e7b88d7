"""TURN REST credentials against vectors computed with `openssl dgst -sha1 -hmac`."""

from __future__ import annotations

from pathlib import Path

import pytest

from turn import make_credential, turn_password
from turn.ice import ice_configuration
from turn.settings import TurnRegion, TurnSettings


def test_password_matches_openssl_vectors() -> None:
    # echo -n "1700000000:v_alice" | openssl dgst -sha1 -hmac north -binary | base64
    assert turn_password("north", "1700000000:v_alice") == "zkADI+oCx5DLbzsNgCJhdaXa0Zo="
    # echo -n "1700086400" | openssl dgst -sha1 -hmac s3cr3t -binary | base64
    assert turn_password("s3cr3t", "1700086400") == "Wbg+b0b85AFdWW1nm5dkKnEW/vA="


def test_credential_username_is_expiry_and_user() -> None:
    cred = make_credential("north", ttl_seconds=3600, now=1_699_996_400.7, user="v_alice")
    assert cred.username == "1700000000:v_alice"
    assert cred.expires_at == 1_700_000_000
    assert cred.password == "zkADI+oCx5DLbzsNgCJhdaXa0Zo="
    assert make_credential("s3cr3t", 86_400, 1_700_000_000).username == "1700086400"


@pytest.mark.parametrize(("ttl", "user"), [(0, None), (-5, None), (10, "a:b")])
def test_bad_arguments_are_refused(ttl: int, user: str | None) -> None:
    with pytest.raises(ValueError):
        make_credential("s", ttl, 0, user)


def test_ice_configuration_lists_stun_and_turn_with_credentials() -> None:
    settings = TurnSettings(
        stun_urls=["stun:stun.example.org:3478"],
        regions=[TurnRegion(name="ams", host="turn.example.org", latitude=52.4, longitude=4.9)],
        secret="north",  # type: ignore[arg-type]
        ttl_seconds=3600,
        force_relay=True,
    )
    config = ice_configuration(settings, settings.regions, now=1_699_996_400)
    assert config["iceTransportPolicy"] == "relay"
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:3478?transport=tcp",
        "turns:turn.example.org:443?transport=tcp",
    ]
    assert turn["username"] == "1700000000"
    assert turn["credential"] == turn_password("north", "1700000000")


def test_no_turn_configured_means_no_turn_entry() -> None:
    config = ice_configuration(TurnSettings(), [], now=0)
    assert config == {"iceServers": [], "iceTransportPolicy": "all", "ttl": 86_400}


def test_secret_file_overrides_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("from-the-file\n")
    settings = TurnSettings(secret_file=path)
    assert settings.shared_secret() == "from-the-file"
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        settings.shared_secret()
