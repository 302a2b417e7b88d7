"""Settings: the sample TOML documents every setting; env overrides; production checks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from signaling.config.settings import Settings, load_settings

SAMPLE = Path(__file__).parents[2] / "configs" / "duet.toml"


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _fields(annotation, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def _keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    names = set()
    for key, value in table.items():
        if isinstance(value, dict):
            names |= _keys(value, f"{prefix}{key}.")
        else:
            names.add(prefix + key)
    return names


def _optional(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Settings whose default is None (TOML has no null: they are shown commented out)."""
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _optional(annotation, f"{prefix}{name}.")
        elif info.default is None:
            names.add(prefix + name)
    return names


def test_sample_config_lists_every_setting_with_its_default() -> None:
    text = SAMPLE.read_text()
    sample = tomllib.loads(text)
    optional = _optional(Settings)
    assert _keys(sample) == _fields(Settings) - optional
    for name in optional:
        leaf = name.rsplit(".", 1)[-1]
        assert re.search(rf"^# {leaf} = ", text, re.MULTILINE), f"{name} is not documented"
    defaults = Settings()
    loaded = load_settings(SAMPLE)
    assert loaded.model_dump() == defaults.model_dump()


def test_every_setting_has_a_comment_in_the_sample() -> None:
    lines = SAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = lines[index - 1].strip()
            assert above.startswith("#") or lines[index - 2].strip().startswith("#"), line


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUET_PORT", "9123")
    monkeypatch.setenv("DUET_SFU__HOST_ADDRESSES", '["127.0.0.1"]')
    monkeypatch.setenv("DUET_CHAT__MAX_LENGTH", "42")
    settings = load_settings(SAMPLE)
    assert settings.port == 9123
    assert settings.sfu.host_addresses == ["127.0.0.1"]
    assert settings.chat.max_length == 42


def test_production_refuses_placeholder_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="secret_key"):
        load_settings(None, mode="production")
    ok = load_settings(
        None,
        mode="production",
        secret_key="a-real-secret-value-0123456789-abcdef",
        source_url="https://git.example.org/duet",
    )
    assert ok.mode == "production"
    with pytest.raises(ValidationError, match=r"turn\.secret"):
        load_settings(
            None,
            mode="production",
            secret_key="a-real-secret-value-0123456789-abcdef",
            turn={
                "regions": [
                    {"name": "a", "host": "turn.example.org", "latitude": 0, "longitude": 0}
                ]
            },
        )


def test_unknown_settings_and_missing_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 80\n")
    with pytest.raises(ValidationError):
        load_settings(bad)
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")
