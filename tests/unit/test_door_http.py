"""The door over HTTP and WebSocket, in process (Starlette's TestClient, a real app with a
throwaway SQLite database, moderation off): headers, 429s, sessions, /ws admission."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    # Starlette would rather have httpx2; the TestClient works the same with httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from moderation.records import BanRecord, EvidenceRecord
from signaling.config.settings import Settings
from signaling.door.challenge import solve
from signaling.door.sessions import Claims, TokenCodec
from signaling.service.app import create_app

DEVICE = "device_0123456789abcdef"


def make_client(
    tmp_path: Path, base_url: str = "http://testserver", **overrides: Any
) -> TestClient:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/duet.sqlite3",
        secret_key="test-secret",
        **{
            "moderation": {"enabled": False, "evidence_dir": str(tmp_path / "evidence")},
            "door": {"challenge": {"max_number": 2_000, "suspect_max_number": 30_000}},
            **overrides,
        },
    )
    return TestClient(create_app(settings), base_url=base_url)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as test_client:
        yield test_client


def body(client: TestClient, device: str = DEVICE, **fields: Any) -> dict[str, Any]:
    challenge = client.get("/api/challenge", params={"device": device}).json()
    return {
        "birth_year": 1990,
        "adult": True,
        "device": device,
        "altcha": solve(challenge),
        **fields,
    }


def session(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/session", json=body(client, **fields))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- headers and limits ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/challenge", "/js/main.js", "/nope"])
def test_every_response_has_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in headers  # plain http


def test_hsts_only_over_https(tmp_path: Path) -> None:
    with make_client(tmp_path, base_url="https://testserver") as https:
        assert "max-age=31536000" in https.get("/healthz").headers["strict-transport-security"]


def test_too_many_requests_get_429_with_retry_after(tmp_path: Path) -> None:
    with make_client(tmp_path, limits={"http_per_ip": "5 per minute"}) as limited:
        codes = [limited.get("/healthz").status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        refused = limited.get("/")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-content-type-options"] == "nosniff"


# --- sessions -------------------------------------------------------------------------


def test_a_session_comes_as_json_and_as_a_strict_httponly_cookie(client: TestClient) -> None:
    response = client.post("/api/session", json=body(client, name="  Ada  "))
    assert response.status_code == 200
    data = response.json()
    assert data["name"] == "Ada" and data["session"].startswith("s_") and data["token"]
    cookie = response.headers["set-cookie"]
    assert "duet_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert response.headers["cache-control"] == "no-store"


def test_under_age_is_refused_and_the_refusal_is_final(client: TestClient) -> None:
    first = client.post("/api/session", json=body(client, birth_year=2015))
    assert first.status_code == 403 and first.json()["error"] == "underage"
    # Same browser (cookie) claiming another year: refused.
    again = client.post("/api/session", json=body(client, birth_year=1980))
    assert again.status_code == 403 and again.json()["error"] == "refused"
    # Cookie cleared, same device id: refused.
    client.cookies.clear()
    same_device = client.post("/api/session", json=body(client, birth_year=1980))
    assert same_device.json()["error"] == "refused"
    # Another device in another browser may still enter.
    client.cookies.clear()
    other = client.post("/api/session", json=body(client, device="another_device_0001"))
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"altcha": None}, "challenge_invalid"),
        ({"altcha": "bm90IGpzb24="}, "challenge_invalid"),
        ({"adult": False}, "bad_request"),
        ({"birth_year": "1990"}, "bad_request"),
        ({"device": "short"}, "bad_request"),
        ({"name": "<script>alert(1)</script>"}, "bad_request"),
        ({"admin": True}, "bad_request"),
    ],
)
def test_bad_session_requests_are_refused(
    client: TestClient, fields: dict[str, Any], code: str
) -> None:
    response = client.post("/api/session", json=body(client, **fields))
    assert response.status_code == 400 and response.json()["error"] == code


def test_a_challenge_cannot_be_replayed(client: TestClient) -> None:
    request = body(client)
    assert client.post("/api/session", json=request).status_code == 200
    replay = client.post("/api/session", json={**request, "device": "another_device_0002"})
    assert replay.json()["error"] == "challenge_reused"


def test_malformed_bodies_are_refused(client: TestClient) -> None:
    assert (
        client.post(
            "/api/session", content=b"{nope", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/api/session", content=b"x" * 10_000, headers={"content-type": "application/json"}
        ).status_code
        == 413
    )
    assert client.post("/api/session", data={"a": "b"}).status_code == 415  # type: ignore[arg-type]
    assert client.post("/api/session", json=[1, 2]).status_code == 400


def test_too_many_sessions_from_one_ip_get_429_then_a_harder_challenge(tmp_path: Path) -> None:
    with make_client(tmp_path, limits={"sessions_per_ip": "2 per minute"}) as limited:
        session(limited)
        session(limited, device="another_device_0003")
        refused = limited.post("/api/session", json=body(limited, device="third_device_00004"))
        assert refused.status_code == 429 and refused.headers["retry-after"]
        challenge = limited.get("/api/challenge").json()
        assert challenge["maxNumber"] == 30_000  # the suspect's challenge


def test_the_challenge_can_be_turned_off_for_development(tmp_path: Path) -> None:
    with make_client(tmp_path, door={"challenge": {"enabled": False}}) as dev:
        assert dev.get("/api/challenge").json() == {"enabled": False}
        response = dev.post(
            "/api/session", json={"birth_year": 1990, "adult": True, "device": DEVICE}
        )
        assert response.status_code == 200


# --- /ws admission --------------------------------------------------------------------


def refused(client: TestClient, url: str, **kwargs: Any) -> tuple[str, int]:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(url, **kwargs) as ws,
    ):
        event = ws.receive_json()
        ws.receive_json()
    return event.get("code", event["type"]), closed.value.code


def test_ws_needs_a_genuine_unexpired_session(client: TestClient) -> None:
    assert refused(client, "/ws") == ("session_required", 4401)
    token = session(client)["token"]
    client.cookies.clear()
    assert refused(client, "/ws?token=" + token[:-2] + "xx") == ("session_invalid", 4401)
    expired = TokenCodec("test-secret").sign(Claims("s_old", DEVICE, None, expires=time.time() - 1))
    assert refused(client, "/ws?token=" + expired) == ("session_invalid", 4401)
    forged = TokenCodec("wrong-secret").sign(Claims("s_x", DEVICE, None, time.time() + 60))
    assert refused(client, "/ws?token=" + forged) == ("session_invalid", 4401)
    with client.websocket_connect("/ws?token=" + token) as ws:
        assert ws.receive_json()["type"] == "welcome"


def test_ws_takes_the_session_cookie(client: TestClient) -> None:
    session(client)  # sets the cookie on the client
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "welcome"


def test_ws_checks_the_origin(client: TestClient) -> None:
    token = session(client)["token"]
    url = "/ws?token=" + token
    evil = {"origin": "https://evil.example"}
    assert refused(client, url, headers=evil) == ("origin_not_allowed", 4403)
    with client.websocket_connect(url, headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "welcome"


def test_ws_connections_per_ip_are_limited(tmp_path: Path) -> None:
    with make_client(tmp_path, limits={"ws_connects_per_ip": "2 per minute"}) as limited:
        token = session(limited)["token"]
        for _ in range(2):
            with limited.websocket_connect("/ws?token=" + token) as ws:
                ws.receive_json()
        assert refused(limited, "/ws?token=" + token) == ("rate_limited", 4429)


def test_a_ban_of_the_device_keeps_a_new_session_out(client: TestClient) -> None:
    token = session(client)["token"]
    services = client.app.state.services  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    evidence = EvidenceRecord("e_1", "text", "v_1", None, now, "x.txt", "0" * 64, None, "test")
    ban = BanRecord(
        "b_1",
        "v_1",
        "203.0.113.9",
        None,
        DEVICE,
        "test",
        "text",
        now,
        now + timedelta(hours=1),
        "e_1",
    )
    client.portal.call(services.moderation.store.save, evidence, ban)  # type: ignore[attr-defined]
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/ws?token=" + token) as ws,
    ):
        assert ws.receive_json()["type"] == "banned"
        ws.receive_json()
    assert closed.value.code == 1008
