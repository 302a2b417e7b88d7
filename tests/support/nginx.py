"""A real nginx (Debian package) on loopback, configured from ``configs/nginx.conf.template``
with a self-signed certificate made here, in front of a ``duet serve``."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signaling.service.nginx import NginxSite, render
from tests.support.net import free_port, wait_tcp

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
"""Debian's nginx (``make test`` installs it); /usr/sbin is not on every user's PATH."""


@dataclass
class Nginx:
    https_port: int
    certificate: Path
    process: subprocess.Popen[bytes]
    access_log: Path
    error_log: Path

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def ws_url(self) -> str:
        return f"wss://localhost:{self.https_port}/ws"

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts exactly the test's certificate."""
        return ssl.create_default_context(cafile=str(self.certificate))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and 127.0.0.1, valid around now, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def main_config(prefix: Path, site: Path) -> str:
    """The minimal nginx.conf around the rendered site (what /etc/nginx/nginx.conf is in
    production): everything nginx writes stays under ``prefix``."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n{temp}\n    include {site};\n}}\n"
    )


@contextlib.contextmanager
def run_nginx(tmp: Path, nodes: Sequence[str], proxy_bind: str) -> Iterator[Nginx]:
    """nginx on 127.0.0.1 (TLS), forwarding to ``nodes`` from ``proxy_bind``."""
    if not Path(NGINX).is_file():
        raise RuntimeError("nginx is not installed: run `make test` (it installs nginx)")
    prefix = tmp / "nginx"
    prefix.mkdir()
    cert, key = self_signed(prefix)
    https_port, http_port = free_port(), free_port()
    site = NginxSite(
        nodes=nodes,
        server_name="localhost",
        certificate=cert,
        certificate_key=key,
        listen_https=f"127.0.0.1:{https_port}",
        listen_http=f"127.0.0.1:{http_port}",
        proxy_bind=proxy_bind,
        access_log=str(prefix / "access.log"),
    )
    (prefix / "duet.conf").write_text(render(site))
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, prefix / "duet.conf"))
    log = (prefix / "stderr.log").open("wb")
    process = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", f"{prefix}/", "-g", "daemon off;"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Nginx(https_port, cert, process, prefix / "access.log", prefix / "error.log")
    try:
        try:
            wait_tcp("127.0.0.1", https_port, timeout=15)
        except TimeoutError:
            errors = (prefix / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"nginx did not start:\n{errors}") from None
        yield server
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
