"""The composition root: the one place that builds engines, services and channels from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from typing import TYPE_CHECKING

from bot.settings import Settings
from desk import UnitOfWork, make_engine, session_factory

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from nlp import Analyzer, Embedder, ModelRegistry


@dataclass(frozen=True)
class ChannelState:
    name: str
    on: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {'on' if self.on else 'off'}, {self.reason}"


def channel_states(settings: Settings) -> list[ChannelState]:
    """Which channels run, and why the others do not."""
    not_built = "the adapter is not built yet"
    states = [
        ChannelState("Web chat", False, not_built),
        ChannelState(
            "Email",
            False,
            "DESKBOT_EMAIL_ENABLED is false" if not settings.email_enabled else f"{not_built} (would listen on {settings.smtp_host}:{settings.smtp_port})",
        ),
    ]
    if settings.slack_bot_token is None:
        states.append(ChannelState("Slack", False, "DESKBOT_SLACK_BOT_TOKEN not set"))
    elif settings.slack_signing_secret is None:
        states.append(ChannelState("Slack", False, "DESKBOT_SLACK_SIGNING_SECRET not set"))
    else:
        states.append(ChannelState("Slack", False, not_built))
    if settings.telegram_bot_token is None:
        states.append(ChannelState("Telegram", False, "DESKBOT_TELEGRAM_BOT_TOKEN not set"))
    else:
        states.append(ChannelState("Telegram", False, not_built))
    return states


class Deskbot:
    """Everything a process needs, built lazily from settings (nothing at import time)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def engine(self) -> "Engine":
        return make_engine(self.settings.database_url)

    @cached_property
    def uow(self) -> UnitOfWork:
        return UnitOfWork(session_factory(self.engine))

    @cached_property
    def embedder(self) -> "Embedder":
        from nlp import make_embedder

        s = self.settings
        return make_embedder(backend=s.nlp_backend, model_path=s.nlp_model_path, threads=s.nlp_threads,
                             cache_dir=s.nlp_cache_dir)

    @cached_property
    def registry(self) -> "ModelRegistry":
        from nlp import ModelRegistry

        return ModelRegistry(self.settings.model_dir)

    @cached_property
    def analyzer(self) -> "Analyzer":
        from nlp import Analyzer

        return Analyzer(embedder=self.embedder, registry=self.registry, kb_index_dir=self.settings.kb_index_dir)

    @property
    def nlp_data_dir(self) -> Path:
        if self.settings.nlp_data_dir is not None:
            return self.settings.nlp_data_dir
        import nlp

        return Path(nlp.__file__).with_name("data")

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
