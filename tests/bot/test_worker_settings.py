"""The worker's settings come from ``Settings`` alone: one default for each value, written once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest

from bot.composition import Deskbot
from bot.settings import Settings
from bot.worker_settings import BotSettings


def test_bot_settings_have_no_defaults_of_their_own() -> None:
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in dataclasses.fields(BotSettings))


def test_every_value_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no deskbot.toml
    for name in [k for k in os.environ if k.startswith("DESKBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DESKBOT_RETRIEVAL_THRESHOLD", "0.6")
    monkeypatch.setenv("DESKBOT_REOPEN_WINDOW_DAYS", "3")
    monkeypatch.setenv("DESKBOT_WORKER_LEASE_SECONDS", "90")
    monkeypatch.setenv("DESKBOT_WORKER_BATCH_SIZE", "4")
    monkeypatch.setenv("DESKBOT_WORKER_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DESKBOT_MAX_ATTACHMENT_BYTES", "1000")
    monkeypatch.setenv("DESKBOT_PUBLIC_URL", "https://desk.corp.example/")
    monkeypatch.setenv("DESKBOT_OUTBOX_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("DESKBOT_OUTBOX_BATCH_SIZE", "7")
    s = Deskbot(Settings()).bot_settings()
    assert (s.retrieval_threshold, s.reopen_window, s.lease, s.batch_size, s.max_attempts, s.max_attachment_bytes,
            s.kb_url, s.outbox_max_attempts, s.outbox_batch_size) == (
        0.6, dt.timedelta(days=3), dt.timedelta(seconds=90), 4, 2, 1000, "https://desk.corp.example/kb", 3, 7)


def test_the_defaults_are_those_of_a_deployment_that_sets_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("DESKBOT_")]:
        monkeypatch.delenv(name)
    assert BotSettings.defaults() == BotSettings.from_settings(Settings())
    assert BotSettings.defaults(batch_size=3).batch_size == 3
    assert BotSettings.defaults().retrieval_threshold == Settings.model_fields["retrieval_threshold"].default
