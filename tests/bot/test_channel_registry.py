"""The channel registry of the composition root: every channel listed once with its state and reason, the
service built from it, and ``deskbot serve``'s start-up lines taken from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.composition import CHANNELS, Deskbot, build_service, channel_states, enabled_channels
from bot.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``settings(**values)`` with nothing from this machine's environment or a deskbot.toml."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("DESKBOT_")]:
        monkeypatch.delenv(name)
    return lambda **values: Settings(database_url=f"sqlite:///{tmp_path / 'desk.db'}", data_dir=tmp_path / "var",
                                     **values)


def test_every_channel_is_listed_once_with_its_state_and_reason(settings) -> None:  # noqa: ANN001
    embedded = channel_states(settings())
    assert [s.name for s in embedded] == [e.title for e in CHANNELS] == ["Web chat", "Email", "Slack", "Telegram"]
    assert len({e.key for e in CHANNELS}) == len(CHANNELS)
    assert [(s.name, s.on) for s in embedded] == [("Web chat", True), ("Email", True), ("Slack", False),
                                                  ("Telegram", False)]
    assert all(s.reason for s in embedded)
    assert str(embedded[2]) == "Slack: off, DESKBOT_SLACK_BOT_TOKEN not set"
    assert str(embedded[3]) == "Telegram: off, DESKBOT_TELEGRAM_BOT_TOKEN not set"
    assert enabled_channels(settings()) == {"webchat", "email"}

    everything = settings(slack_bot_token="xoxb-1", slack_signing_secret="s", telegram_bot_token="123:abc",
                          email_enabled=False)
    states = {s.name: s for s in channel_states(everything)}
    assert states["Slack"].on and "/slack/events" in states["Slack"].reason
    assert str(states["Email"]) == "Email: off, DESKBOT_EMAIL_ENABLED is false"
    # A token without a webhook secret polls: no public URL needed.
    assert states["Telegram"].on and "getUpdates" in states["Telegram"].reason
    assert enabled_channels(everything) == {"webchat", "slack", "telegram"}

    webhook = settings(telegram_bot_token="123:abc", telegram_webhook_secret="s3cret-token")
    assert str(channel_states(webhook)[3]).startswith("Telegram: off, webhook mode needs an https DESKBOT_PUBLIC_URL")
    assert "telegram" not in enabled_channels(webhook)
    forced = settings(telegram_bot_token="123:abc", telegram_mode="webhook", public_url="https://desk.example.com")
    assert "DESKBOT_TELEGRAM_WEBHOOK_SECRET" in channel_states(forced)[3].reason
    public = settings(telegram_bot_token="123:abc", telegram_webhook_secret="s3cret-token",
                      public_url="https://desk.example.com")
    assert str(channel_states(public)[3]) == ("Telegram: on, webhook at https://desk.example.com/telegram/webhook "
                                              "(registered with setWebhook at start)")


def test_capabilities_say_what_each_channel_renders() -> None:
    can = {e.key: e.capabilities for e in CHANNELS}
    assert not can["email"].buttons and can["email"].threads and can["email"].files  # "reply YES or NO"
    assert can["slack"].buttons and can["slack"].threads
    assert can["webchat"].buttons and not can["webchat"].threads
    assert can["telegram"].buttons and not can["telegram"].threads and can["telegram"].files


def test_serve_starts_the_channels_the_registry_turns_on_and_prints_its_lines(settings, analyzer) -> None:  # noqa: ANN001
    chosen = settings(slack_bot_token="xoxb-1", slack_signing_secret="s", smtp_port=0, telegram_bot_token="123:abc",
                      telegram_webhook_secret="s3cret-token", public_url="https://desk.example.com")
    deskbot = Deskbot(chosen, analyzer=analyzer)
    try:
        service = build_service(deskbot)
        lines = service.startup_lines("127.0.0.1", 8080)
    finally:
        deskbot.close()
    assert set(service.adapters) == enabled_channels(chosen) == {"webchat", "email", "slack", "telegram"}
    assert all(adapter.name == key for key, adapter in service.adapters.items())
    with TestClient(service.app) as http:  # each running channel's router is mounted, and the KB pages
        assert http.get("/chat").status_code == 200 and http.get("/kb").status_code == 200
        assert http.post("/slack/events", content=b"{}").status_code == 401  # Bolt's check of the signature
        assert http.post("/telegram/webhook", json={}).status_code == 403  # no secret token header
    assert lines[0].startswith("  Bot: on, model ")
    assert lines[-len(CHANNELS):] == [f"  {state}" for state in channel_states(chosen)]


def test_with_the_bot_off_every_channel_says_so(settings) -> None:  # noqa: ANN001
    deskbot = Deskbot(settings())  # no model trained in this data_dir
    try:
        service = build_service(deskbot)
        lines = service.startup_lines("127.0.0.1", 8080)
    finally:
        deskbot.close()
    assert service.pipeline is None and service.adapters == {}
    assert lines[0].startswith("  Bot: off, ")
    assert lines[-len(CHANNELS):] == ["  Web chat: off, the bot is off", "  Email: off, the bot is off",
                                      "  Slack: off, DESKBOT_SLACK_BOT_TOKEN not set",
                                      "  Telegram: off, DESKBOT_TELEGRAM_BOT_TOKEN not set"]
    assert "knowledge base" not in lines[2]
