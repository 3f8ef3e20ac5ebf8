"""The channel registry: every channel adapter described once (its name, whether it runs and why, what it can
render, how it is built and which HTTP routes it brings). Adding a channel is one ``ChannelEntry`` in ``CHANNELS``."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from bot.composition._deskbot import Deskbot
    from bot.conversation import ChannelAdapter


@dataclass(frozen=True)
class Capabilities:
    """What a channel renders natively; a reply degrades where it cannot (buttons to "reply YES or NO")."""

    buttons: bool
    threads: bool
    files: bool


@dataclass(frozen=True)
class Availability:
    on: bool
    reason: str


@dataclass(frozen=True)
class ChannelState:
    name: str
    on: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {'on' if self.on else 'off'}, {self.reason}"


@dataclass(frozen=True)
class BuiltChannel:
    adapter: "ChannelAdapter"  # started with the inbox's accept, stopped at shutdown (``bot.runtime.run_service``)
    router: "APIRouter | None" = None  # its webhooks or pages, mounted on the one HTTP app
    # Paths whose request bodies need more room than DESKBOT_HTTP_MAX_BODY_BYTES (an upload), and how much.
    body_limits: "Mapping[str, int]" = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelEntry:
    key: str  # the adapter's ``name``: what outbox rows, notice targets and dispatchers call it
    title: str  # as an operator reads it (start-up lines, /health)
    capabilities: Capabilities
    availability: Callable[[Settings], Availability]
    build: Callable[["Deskbot"], BuiltChannel] | None  # None: the adapter is not written yet

    def state(self, settings: Settings) -> ChannelState:
        found = self.availability(settings)
        return ChannelState(self.title, found.on and self.build is not None, found.reason)


UPLOAD_OVERHEAD = 64 * 1024  # bytes beyond the attachment limit an upload's body may have


class CodeDelivery(enum.Enum):
    """How the chat channels' one-time codes (web chat sign-in, Telegram's /link) reach the person who asked."""

    MAIL = "mail"  # through the relay
    LOG = "log"  # written to the operator's log: only where nobody else could use them
    NONE = "none"  # no relay on a desk others can reach: sign-in is refused


def code_delivery(settings: Settings) -> CodeDelivery:
    if settings.smtp_relay_host is not None:
        return CodeDelivery.MAIL
    if settings.dev_mode or settings.public_url_is_loopback:
        return CodeDelivery.LOG
    return CodeDelivery.NONE


def _webchat(settings: Settings) -> Availability:
    chat_url = f"{settings.public_url.rstrip('/')}/chat"
    domains = " or ".join(settings.webchat_allowed_domains or ())
    delivery = code_delivery(settings)
    if delivery is CodeDelivery.MAIL:
        how = (f"one-time codes are mailed through {settings.smtp_relay_host}:{settings.smtp_relay_port} "
               f"to addresses at {domains}")
    elif delivery is CodeDelivery.LOG:
        why = "DESKBOT_DEV_MODE is on" if settings.dev_mode else "the public URL is loopback-only"
        how = (f"no mail relay: one-time codes for addresses at {domains} are written to this log because {why}; "
               "set DESKBOT_SMTP_RELAY_HOST to mail them")
    else:
        how = ("sign-in is refused: no mail relay to send one-time codes; set DESKBOT_SMTP_RELAY_HOST "
               "(or DESKBOT_DEV_MODE=true on a developer's desk, to log them)")
    return Availability(True, f"at {chat_url} ({how})")


def _email(settings: Settings) -> Availability:
    s = settings
    if not s.email_enabled:
        return Availability(False, "DESKBOT_EMAIL_ENABLED is false")
    replies = (f"replies through {s.smtp_relay_host}:{s.smtp_relay_port}" if s.smtp_relay_host
               else "replies wait in the outbox until DESKBOT_SMTP_RELAY_HOST is set")
    senders = (f"senders verified by the Authentication-Results of {', '.join(s.email_authserv_ids)} "
               f"({'/'.join(s.email_verification_methods)}) for {', '.join(sorted(s.company_domains()))}"
               if s.email_verification != "off" else
               "no sender is verified by email (DESKBOT_EMAIL_VERIFICATION=off: mail links no identities)")
    return Availability(True, f"SMTP on {s.smtp_host}:{s.smtp_port}{_smtp_security(s)} for "
                              f"{', '.join(s.email_addresses)}; {replies}; {senders}")


def _smtp_security(settings: Settings) -> str:
    tls = ("STARTTLS required" if settings.smtp_require_starttls else "STARTTLS offered") if settings.smtp_tls_cert else ""
    auth = "AUTH required" if settings.smtp_auth_users or settings.smtp_auth_users_file else ""
    relays = f"trusted relays {', '.join(settings.smtp_trusted_relays)}" if settings.smtp_trusted_relays else ""
    parts = [p for p in (tls, auth, relays) if p]
    return f" ({', '.join(parts)})" if parts else ""


def _slack(settings: Settings) -> Availability:
    if settings.slack_bot_token is None:
        return Availability(False, "DESKBOT_SLACK_BOT_TOKEN not set")
    if settings.slack_signing_secret is None:
        return Availability(False, "DESKBOT_SLACK_SIGNING_SECRET not set")
    if settings.slack_socket_mode:
        if settings.slack_app_token is None:
            return Availability(False, "DESKBOT_SLACK_SOCKET_MODE is on but DESKBOT_SLACK_APP_TOKEN is not set")
        return Availability(True, "Socket Mode (no public URL needed)")
    base = settings.public_url.rstrip("/")
    return Availability(True, f"events at {base}/slack/events, interactivity at {base}/slack/interactivity, "
                              f"/it at {base}/slack/commands")


def _telegram(settings: Settings) -> Availability:
    if settings.telegram_bot_token is None:
        return Availability(False, "DESKBOT_TELEGRAM_BOT_TOKEN not set")
    if settings.telegram_polling:
        return Availability(True, f"polling {settings.telegram_api_url.rstrip('/')}... for updates "
                                  "(getUpdates: no public URL needed)")
    if settings.telegram_webhook_secret is None:
        return Availability(False, "webhook mode needs DESKBOT_TELEGRAM_WEBHOOK_SECRET (or DESKBOT_TELEGRAM_MODE=polling)")
    if not settings.public_url_is_https:
        return Availability(False, f"webhook mode needs an https DESKBOT_PUBLIC_URL that Telegram can reach, not "
                                   f"{settings.public_url} (or DESKBOT_TELEGRAM_MODE=polling)")
    return Availability(True, f"webhook at {_telegram_webhook_url(settings)} (registered with setWebhook at start)")


def _telegram_webhook_url(settings: Settings) -> str:
    from channels.telegram import WEBHOOK_PATH

    return f"{settings.public_url.rstrip('/')}{WEBHOOK_PATH}"


def _build_webchat(deskbot: "Deskbot") -> BuiltChannel:
    webchat = deskbot.webchat()
    # Room for a whole file and a little more: a file above the attachment limit gets the channel's own answer.
    room = deskbot.settings.max_attachment_bytes + UPLOAD_OVERHEAD
    return BuiltChannel(webchat, webchat.router(), body_limits={webchat.files_path: room})


def _build_email(deskbot: "Deskbot") -> BuiltChannel:
    return BuiltChannel(deskbot.email())


def _build_slack(deskbot: "Deskbot") -> BuiltChannel:
    slack = deskbot.slack()
    return BuiltChannel(slack, slack.router())


def _build_telegram(deskbot: "Deskbot") -> BuiltChannel:
    """Telegram over PTB in the mode ``telegram_polling`` says; its /link codes from ``Deskbot.verification``.

    Polling mounts no route: without a secret token the webhook could only refuse every update."""
    from bot.composition._deskbot import DeskRateLimiter
    from channels.telegram import TelegramChannel

    s = deskbot.settings
    assert s.telegram_bot_token is not None
    secret = s.telegram_webhook_secret
    telegram = TelegramChannel(token=s.telegram_bot_token.get_secret_value(), api_url=s.telegram_api_url,
                               file_url=s.telegram_file_url, verifier=deskbot.verification, polling=s.telegram_polling,
                               webhook_secret=secret.get_secret_value() if secret else None,
                               webhook_url=_telegram_webhook_url(s), max_file_bytes=s.max_attachment_bytes,
                               limiter=DeskRateLimiter(deskbot.uow))
    return BuiltChannel(telegram, None if s.telegram_polling else telegram.router())


CHANNELS: tuple[ChannelEntry, ...] = (
    ChannelEntry("webchat", "Web chat", Capabilities(buttons=True, threads=False, files=True), _webchat,
                 _build_webchat),
    ChannelEntry("email", "Email", Capabilities(buttons=False, threads=True, files=True), _email, _build_email),
    ChannelEntry("slack", "Slack", Capabilities(buttons=True, threads=True, files=True), _slack, _build_slack),
    # Inline keyboards; photos and documents come in as attachments; a private chat has no threads.
    ChannelEntry("telegram", "Telegram", Capabilities(buttons=True, threads=False, files=True), _telegram,
                 _build_telegram),
)


def channel_states(settings: Settings) -> list[ChannelState]:
    """Which channels run, and why the others do not."""
    return [entry.state(settings) for entry in CHANNELS]


def enabled_channels(settings: Settings) -> frozenset[str]:
    """The channels that send in this deployment (notices are only queued for these)."""
    return frozenset(entry.key for entry in CHANNELS if entry.state(settings).on)
