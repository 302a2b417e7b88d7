"""The wheel: built offline without a single warning, installed into a fresh virtual
environment outside the checkout, it serves the client and the console and renders its
configuration templates from an empty directory.

Building copies the checkout's files (tracked and new, as git lists them) so nothing is
written into the checkout. The fresh environment gets its dependencies from the test's own
interpreter through a ``.pth`` path line (nothing is downloaded); a path line does not run
that environment's ``.pth`` files, so an editable install of the checkout stays out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port, wait_http
from tests.support.servers import REPO_ROOT

pytestmark = pytest.mark.timeout(600)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points back into the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DUET_") and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    }
    return {**env, **extra}


def _copy_sources(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built like ``pip wheel --no-deps --no-build-isolation .``."""
    tmp = tmp_path_factory.mktemp("wheel")
    source, out = tmp / "src", tmp / "dist"
    _copy_sources(source)
    build = subprocess.run(
        [
            sys.executable,
            "-W",
            "default",
            "-c",
            "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))",
            str(out),
        ],
        cwd=source,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    warnings = [line for line in output.splitlines() if "warn" in line.lower()]
    assert not warnings, "\n".join(warnings)
    return out / build.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (``bin/duet``)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(purelib) / "duet-test-deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    subprocess.run(
        [*pip, "--no-deps", "--no-index", "--no-compile", str(wheel)],
        check=True,
        env=_clean_env(),
        timeout=300,
    )
    return root


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


def test_the_wheel_carries_every_file_the_commands_need(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        "configs/turnserver.conf.template",
        "configs/nginx.conf.template",
        "configs/duet.toml",
        "duet/cli.py",
        "duet/tasks.py",
        "client/index.html",
        "client/js/main.js",
        "client/review/index.html",
        "client/review/js/main.js",
        "signaling/storage/migrations/env.py",
        "signaling/storage/migrations/script.py.mako",
        "signaling/storage/migrations/versions/0001_matches.py",
    }
    assert needed <= names, needed - names
    assert not any(name.startswith("tests/") for name in names)
    assert "duet-0.1.0.dist-info/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read("duet-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: AGPL-3.0-or-later" in metadata


def test_the_installed_package_is_not_the_checkout(venv: Path, empty: Path) -> None:
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import signaling, configs; print(signaling.__file__)"],
        cwd=empty,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where


def test_turn_and_nginx_config_render_from_an_empty_directory(venv: Path, empty: Path) -> None:
    duet = str(venv / "bin" / "duet")
    turn = subprocess.run(
        [duet, "turn", "config"], cwd=empty, env=_clean_env(), capture_output=True, text=True
    )
    assert turn.returncode == 0, turn.stderr
    assert "use-auth-secret" in turn.stdout and "denied-peer-ip=10.0.0.0" in turn.stdout
    site = ["--server-name", "chat.example.org", "--node", "10.0.0.1:80"]
    nginx = subprocess.run(
        [duet, "nginx", "config", *site, "--certificate", "/etc/c.pem", "--certificate-key", "/k"],
        cwd=empty,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert nginx.returncode == 0, nginx.stderr
    assert "server 10.0.0.1:80;" in nginx.stdout


@pytest.fixture
def served(venv: Path, empty: Path) -> Iterator[str]:
    port = free_port()
    env = _clean_env(
        DUET_MODERATION__ENABLED="false",
        DUET_SFU__WORKERS="0",
        DUET_SFU__HOST_ADDRESSES='["127.0.0.1"]',
    )
    log = (empty.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [venv / "bin" / "duet", "serve", "--port", str(port)],
        cwd=empty,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(url + "/healthz", timeout=60)
        except TimeoutError:
            raise AssertionError((empty.parent / "serve.log").read_text()) from None
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serve_from_an_empty_directory(served: str, empty: Path) -> None:
    page = httpx.get(served + "/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    script = httpx.get(served + "/js/main.js")
    assert script.status_code == 200
    console = httpx.get(served + "/review")
    assert console.status_code == 200 and "<html" in console.text.lower()
    # What it made, it made here: its database and its own secret key.
    assert (empty / "var" / "secret_key").is_file()
    assert (empty / "var" / "duet.sqlite3").is_file()
