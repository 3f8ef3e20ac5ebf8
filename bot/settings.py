"""Settings from ``DESKBOT_*`` environment variables and an optional ``deskbot.toml``.

Precedence: environment, then the TOML file (``DESKBOT_CONFIG`` names it; default
``./deskbot.toml``), then the defaults below, which are the embedded set-up: SQLite
under ``./var``, the packaged model, email and web chat on loopback.
"""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("deskbot.toml")


class ConfigError(Exception):
    """A setting that stops start-up; the message is one line naming the setting and the problem."""


class Settings(BaseSettings):
    """Every setting of deskbot; the README's configuration table lists them."""

    model_config = SettingsConfigDict(env_prefix="DESKBOT_", extra="forbid", validate_default=True)

    data_dir: Path = Path("var")
    database_url: str = "sqlite:///var/deskbot.db"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)

    # Calendar given to the groups a new desk is seeded with.
    timezone: str = "UTC"
    working_hours: str = "mon-fri 09:00-17:00"
    reopen_window_days: int = Field(7, ge=0)
    max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0)

    # NLP: the packaged model on torch (or int8 ONNX, built on first use), one CPU thread by default
    # because the service shares the machine with its workers.
    nlp_backend: Literal["torch", "onnx"] = "torch"
    nlp_model_path: Path | None = None
    nlp_threads: int = Field(1, ge=1, le=64)
    nlp_data_dir: Path | None = None  # training data; default: the packaged nlp/data
    kb_dir: Path = Path("kb_articles")

    # The bot's policy. The retrieval threshold is the top-1 cosine at which bench/kb_retrieval.py measured
    # >= 90 % precision@1 on the labelled queries; the answer threshold defaults to the one the intent
    # model chose on its validation split (95 % precision).
    retrieval_threshold: float = Field(0.45, ge=0, le=1)
    answer_threshold: float | None = Field(None, ge=0, le=1)
    confirmation_window_hours: float = Field(24, gt=0)
    major_incident_count: int = Field(3, ge=2)
    major_incident_minutes: int = Field(30, ge=1)
    major_incident_similarity: float = Field(0.75, ge=0, le=1)
    public_url: str = "http://127.0.0.1:8080"
    worker_lease_seconds: float = Field(60, gt=0)

    email_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(2525, ge=0, le=65535)
    email_addresses: list[str] = ["support@deskbot.example"]  # mail to any other address gets 550
    smtp_max_bytes: int = Field(25 * 1024 * 1024, gt=0)
    smtp_relay_host: str | None = None  # where replies go out; unset: replies wait in the outbox
    smtp_relay_port: int = Field(25, ge=1, le=65535)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None  # xapp-...: only for Socket Mode
    slack_socket_mode: bool = False  # receive events over Socket Mode instead of HTTP (no public URL needed)
    slack_api_url: str = "https://slack.com/api/"  # the Web API (tests point it at a fake on loopback)
    slack_reply_prefix: str = "!reply"  # an agent's message in a ticket's Slack thread starting so goes to the requester
    telegram_bot_token: SecretStr | None = None

    @property
    def nlp_cache_dir(self) -> Path:
        return self.data_dir / "nlp"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def kb_index_dir(self) -> Path:
        return self.data_dir / "kb_index"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from exc
        return value

    @field_validator("working_hours")
    @classmethod
    def _valid_hours(cls, value: str) -> str:
        from desk.business_hours import BusinessCalendar

        BusinessCalendar.parse_hours(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        from desk.db import check_database_url

        check_database_url(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))


def config_file() -> Path:
    return Path(os.environ.get("DESKBOT_CONFIG", DEFAULT_CONFIG_FILE))


def load_settings(**overrides: object) -> Settings:
    """The settings, or a ``ConfigError`` whose one line says what is wrong and where."""
    path = config_file()
    if "DESKBOT_CONFIG" in os.environ and not path.is_file():
        raise ConfigError(f"DESKBOT_CONFIG names {path}, which is not a file")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error["loc"]) or "?"
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"{path}: unknown setting {name!r}") from None
        where = f"DESKBOT_{name.upper()}" if f"DESKBOT_{name.upper()}" in os.environ else f"{name} in {path}"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {where}: {message} (got {error.get('input')!r})") from None
