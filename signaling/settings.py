"""The one settings tree of Duet.

Sources, highest priority first: keyword arguments, ``DUET_*`` environment variables
(``__`` separates nested names: ``DUET_SFU__HOST_ADDRESSES='["127.0.0.1"]'``), the TOML file
given to :func:`load_settings` (``configs/duet.toml`` documents every setting), then the
defaults below. Each package owns the model of its own table (``sfu.settings`` ...); this
module only assembles them, because signaling is the package that depends on all others.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from moderation.settings import ModerationSettings
from sfu.settings import SfuSettings
from signaling.admin.settings import AdminSettings
from signaling.door.settings import (
    BlockSettings,
    DoorSettings,
    LimitSettings,
    ReportSettings,
    RetentionSettings,
)
from turn.settings import PLACEHOLDER_SECRET as TURN_PLACEHOLDER_SECRET
from turn.settings import TurnSettings

PLACEHOLDER_SECRET_KEY = "change-me"


class ChatSettings(BaseModel):
    """Text chat relayed between partners."""

    max_length: int = Field(default=1000, gt=0, le=10_000)
    """Longest chat message, in characters. Longer messages are refused with an error."""


class MatchingSettings(BaseModel):
    """How strangers are paired."""

    rematch_cooldown_s: float = Field(default=10.0, ge=0)
    """Two visitors who just parted are not paired again within this many seconds
    (they may be sooner if nobody else is waiting after the cooldown)."""

    preference_wait_s: float = Field(default=5.0, ge=0)
    """Seconds a visitor with interests or a language holds out for a partner sharing an
    interest and the language before taking anyone."""


class Settings(BaseSettings):
    """Every setting of a Duet node."""

    model_config = SettingsConfigDict(
        env_prefix="DUET_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    mode: Literal["development", "production"] = "development"
    """``production`` refuses placeholder secrets (``secret_key``, ``turn.secret``)."""

    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET_KEY)
    """Signs session tokens and cookies. Must be changed in production."""

    host: str = "127.0.0.1"
    """Address ``duet serve`` listens on (HTTP and WebSocket)."""

    port: int = Field(default=8080, ge=0, le=65535)
    """Port ``duet serve`` listens on."""

    database_url: str = "sqlite+aiosqlite:///var/duet.sqlite3"
    """SQLAlchemy async URL. Relative SQLite paths are relative to the working directory."""

    redis_url: str = ""
    """Redis shared by several nodes (``redis://host:6379/0``): matching queues, presence,
    messages between nodes, rate limits, moderation job streams. Empty: one node, all in
    memory."""

    node_id: str = ""
    """This node's name among several (empty: ``host:port``). Keep it across restarts: a
    restarted node takes back what Redis kept for it."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Minimum level of log records."""

    log_format: Literal["text", "json"] = "text"
    """``text`` for people; ``json``: one JSON object per line (with ``visitor`` and
    ``match`` ids when a record has them) for log collectors."""

    max_message_bytes: int = Field(default=65_536, ge=1024)
    """Largest WebSocket message accepted; larger ones get an error (SDP fits easily)."""

    outbox_size: int = Field(default=256, ge=8)
    """Messages queued for one slow browser before it is disconnected."""

    min_restart_interval_s: float = Field(default=2.0, ge=0)
    """Shortest time between two media restarts of one visitor (after ICE failure)."""

    chat: ChatSettings = Field(default_factory=ChatSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    sfu: SfuSettings = Field(default_factory=SfuSettings)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    door: DoorSettings = Field(default_factory=DoorSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    blocks: BlockSettings = Field(default_factory=BlockSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _needs_redis(self) -> Settings:
        if self.moderation.remote_workers and not self.redis_url:
            raise ValueError("moderation.remote_workers needs redis_url (the job stream)")
        return self

    @property
    def node_name(self) -> str:
        """``node_id``, or ``host:port`` (stable across restarts of the same node)."""
        return self.node_id or f"{socket.gethostname()}:{self.port}"

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.mode != "production":
            return self
        problems = []
        if self.secret_key.get_secret_value() == PLACEHOLDER_SECRET_KEY:
            problems.append("secret_key")
        turn = self.turn
        placeholder = turn.secret.get_secret_value() == TURN_PLACEHOLDER_SECRET
        if turn.regions and turn.secret_file is None and placeholder:
            problems.append("turn.secret")
        if problems:
            raise ValueError(
                "mode = 'production' refuses placeholder values for: "
                + ", ".join(problems)
                + " (set them in the config file or DUET_* environment variables)"
            )
        return self


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Build the settings from ``config_file`` (TOML), the environment and ``overrides``.

    Raises ``FileNotFoundError`` when ``config_file`` is given but missing, and pydantic's
    ``ValidationError`` (with every problem listed) when a value is invalid.
    """
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    return _FileSettings(**overrides)  # type: ignore[arg-type]
