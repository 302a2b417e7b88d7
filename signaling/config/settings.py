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

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from moderation.settings import ModerationSettings
from sfu.settings import SfuSettings
from signaling.config.console import AdminSettings
from signaling.config.door import (
    BlockSettings,
    DoorSettings,
    LimitSettings,
    ReportSettings,
    RetentionSettings,
)
from signaling.config.keys import MIN_KEY_CHARS
from signaling.config.networks import parse_networks
from turn.settings import PLACEHOLDER_SECRET as TURN_PLACEHOLDER_SECRET
from turn.settings import TurnSettings

PLACEHOLDER_SOURCE_URL = "https://example.invalid/duet"
"""Stands in for the project's repository until one is published (``source_url``)."""

PLACEHOLDER_SECRET_KEY = "change-me"
"""A key once shipped as an example: refused in production like any other weak key."""


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
    """``production`` refuses unset or weak secrets (``secret_key``/``secret_keys``,
    ``turn.secret``)."""

    secret_key: SecretStr = SecretStr("")
    """Signs every token (sessions, resume, appeals, reviewer CSRF, challenges, media-pipe
    subscriptions). Empty: ``duet serve`` makes a random one in ``data_dir/secret_key``
    (mode 0600) on first start and reuses it. Production needs one set here, shared by
    all nodes, at least 32 characters."""

    secret_keys: list[SecretStr] = Field(default_factory=list)
    """Key rotation: several keys, newest first. The first signs, all verify, so tokens
    signed with an older key stay valid until it is dropped. Use instead of
    ``secret_key`` (setting both is an error)."""

    data_dir: Path = Path("var")
    """This node's own files (the generated secret key). Relative paths are relative to
    the working directory."""

    host: str = "127.0.0.1"
    """Address ``duet serve`` listens on (HTTP and WebSocket)."""

    port: int = Field(default=8080, ge=0, le=65535)
    """Port ``duet serve`` listens on."""

    source_url: str = Field(default=PLACEHOLDER_SOURCE_URL, pattern=r"^https?://[^\s\"'<>]+$")
    """Where this installation's source code is published. Duet is AGPL-3.0: a network
    service must offer its users the source of the version it runs (with your changes).
    The page footer and the reviewer console link to ``/source``, which redirects here.
    The default is a placeholder (no public repository is known); production refuses it."""

    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32"])
    """CIDRs of the reverse proxies / load balancers in front of this node. Only requests
    (HTTP and ``/ws``) whose TCP peer is in one of them have their ``X-Forwarded-For`` (the
    right-most untrusted address is the visitor), ``X-Forwarded-Proto`` or ``Forwarded``
    believed (:mod:`signaling.door.proxy`). Env: ``DUET_TRUSTED_PROXIES='["10.0.0.0/8"]'``.
    Empty: no proxy; every peer is the visitor."""

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

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        try:
            return [str(net) for net in parse_networks(value)]
        except ValueError as exc:
            raise ValueError(f"trusted_proxies: {exc} (give CIDRs like 10.0.0.0/8)") from None

    @model_validator(mode="after")
    def _one_way_to_set_keys(self) -> Settings:
        if self.secret_key.get_secret_value() and self.secret_keys:
            raise ValueError(
                "set secret_key or secret_keys, not both (for rotation: secret_keys = [new, old])"
            )
        if any(not key.get_secret_value() for key in self.secret_keys):
            raise ValueError("secret_keys may not contain an empty key")
        return self

    def configured_keys(self) -> tuple[str, ...]:
        """The keys set in the configuration, newest first (empty: none configured)."""
        if self.secret_keys:
            return tuple(key.get_secret_value() for key in self.secret_keys)
        key = self.secret_key.get_secret_value()
        return (key,) if key else ()

    @property
    def node_name(self) -> str:
        """``node_id``, or ``host:port`` (stable across restarts of the same node)."""
        return self.node_id or f"{socket.gethostname()}:{self.port}"

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.mode != "production":
            return self
        problems = []
        keys = self.configured_keys()
        if not keys or any(_weak(key) for key in keys):
            problems.append("secret_key")
        if self.source_url == PLACEHOLDER_SOURCE_URL:
            problems.append("source_url")
        turn = self.turn
        placeholder = turn.secret.get_secret_value() == TURN_PLACEHOLDER_SECRET
        if turn.regions and turn.secret_file is None and placeholder:
            problems.append("turn.secret")
        if problems:
            raise ValueError(
                "mode = 'production' refuses unset, placeholder or weak values for: "
                + ", ".join(problems)
                + f" (set them in the config file or DUET_* environment variables; keys"
                f" need at least {MIN_KEY_CHARS} characters)"
            )
        return self


def _weak(key: str) -> bool:
    """A key production refuses: the old placeholder, short, or one repeated character."""
    return key == PLACEHOLDER_SECRET_KEY or len(key) < MIN_KEY_CHARS or len(set(key)) < 8


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
