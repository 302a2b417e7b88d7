"""``duet nginx config``: the template is filled completely and nothing passed in can add
nginx directives. (tests/integration/test_nginx.py runs the result in a real nginx.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from duet.cli import main
from signaling.service.nginx import NginxConfigError, NginxSite, render

CERT, KEY = Path("/etc/ssl/duet.pem"), Path("/etc/ssl/duet.key")


def _site(**changes: object) -> NginxSite:
    values: dict[str, object] = {
        "nodes": ["10.0.0.11:8080", "10.0.0.12:8080"],
        "server_name": "chat.example.org",
        "certificate": CERT,
        "certificate_key": KEY,
        **changes,
    }
    return NginxSite(**values)  # type: ignore[arg-type]


def test_every_node_and_setting_lands_in_the_configuration() -> None:
    text = render(_site(proxy_bind="10.0.0.5", metrics_allow=["10.0.0.0/8"]))
    assert "    server 10.0.0.11:8080;\n    server 10.0.0.12:8080;" in text
    assert "server_name chat.example.org;" in text and "listen 443 ssl;" in text
    assert f"ssl_certificate {CERT};" in text and f"ssl_certificate_key {KEY};" in text
    assert "proxy_bind 10.0.0.5;" in text and "allow 10.0.0.0/8;" in text
    assert "{{" not in text
    assert "proxy_bind" not in render(_site()).replace("# from: proxy_bind", "")


@pytest.mark.parametrize(
    "changes",
    [
        {"nodes": []},
        {"nodes": ["10.0.0.1"]},
        {"nodes": ["10.0.0.1:80; include /etc/passwd"]},
        {"server_name": "chat.example.org; return 200"},
        {"server_name": ""},
        {"listen_https": "443 ssl; x"},
        {"listen_http": "99999"},
        {"proxy_bind": "10.0.0.5; x"},
        {"metrics_allow": ["0.0.0.0/0; allow all"]},
        {"certificate": Path("/tmp/a b.pem")},
    ],
)
def test_values_that_would_change_the_configuration_are_refused(
    changes: dict[str, object],
) -> None:
    with pytest.raises(NginxConfigError):
        render(_site(**changes))


def test_the_command_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "duet.conf"
    args = ["nginx", "config", "--server-name", "chat.example.org", "--node", "10.0.0.11:8080"]
    args += ["--certificate", str(CERT), "--certificate-key", str(KEY), "-o", str(out)]
    assert main(args) == 0
    assert "server 10.0.0.11:8080;" in out.read_text()
    with pytest.raises(SystemExit, match="not host:port"):
        main([*args[:-2], "--node", "nope"])
