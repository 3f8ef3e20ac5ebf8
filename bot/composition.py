"""The composition root: the one place that builds engines, services and channels from settings."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from typing import TYPE_CHECKING

from bot.conversation import RateLimit
from bot.settings import Settings
from bot.verification import desk_limits
from desk import UnitOfWork, limits, make_engine, session_factory

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy import Engine

    from bot.notify import Notifiers
    from channels.email import EmailChannel, Relay, SenderVerification
    from channels.slack import SlackChannel
    from channels.telegram import TelegramChannel
    from channels.webchat import WebChatChannel
    from bot.pipeline import Pipeline
    from bot.verification import ChatVerification
    from bot.worker_settings import BotSettings
    from desk.taxonomy import Taxonomy
    from nlp import Analyzer, Embedder, ModelRegistry


@dataclass(frozen=True)
class ChannelState:
    name: str
    on: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {'on' if self.on else 'off'}, {self.reason}"


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


def _webchat_state(settings: Settings) -> ChannelState:
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
    return ChannelState("Web chat", True, f"at {chat_url} ({how})")


def channel_states(settings: Settings) -> list[ChannelState]:
    """Which channels run, and why the others do not."""
    states = [
        _webchat_state(settings),
        ChannelState(
            "Email",
            settings.email_enabled,
            "DESKBOT_EMAIL_ENABLED is false" if not settings.email_enabled else
            f"SMTP on {settings.smtp_host}:{settings.smtp_port}{_smtp_security(settings)} for "
            f"{', '.join(settings.email_addresses)}; "
            + (f"replies through {settings.smtp_relay_host}:{settings.smtp_relay_port}" if settings.smtp_relay_host
               else "replies wait in the outbox until DESKBOT_SMTP_RELAY_HOST is set") + "; "
            + (f"senders verified by the Authentication-Results of {', '.join(settings.email_authserv_ids)} "
               f"({'/'.join(settings.email_verification_methods)}) for {', '.join(sorted(settings.company_domains()))}"
               if settings.email_verification != "off" else
               "no sender is verified by email (DESKBOT_EMAIL_VERIFICATION=off: mail links no identities)"),
        ),
    ]
    states.append(_slack_state(settings))
    states.append(_telegram_state(settings))
    return states


def _slack_state(settings: Settings) -> ChannelState:
    if settings.slack_bot_token is None:
        return ChannelState("Slack", False, "DESKBOT_SLACK_BOT_TOKEN not set")
    if settings.slack_signing_secret is None:
        return ChannelState("Slack", False, "DESKBOT_SLACK_SIGNING_SECRET not set")
    if settings.slack_socket_mode:
        if settings.slack_app_token is None:
            return ChannelState("Slack", False, "DESKBOT_SLACK_SOCKET_MODE is on but DESKBOT_SLACK_APP_TOKEN is not set")
        return ChannelState("Slack", True, "Socket Mode (no public URL needed)")
    base = settings.public_url.rstrip("/")
    return ChannelState("Slack", True, f"events at {base}/slack/events, interactivity at {base}/slack/interactivity, "
                                       f"/it at {base}/slack/commands")


def _telegram_state(settings: Settings) -> ChannelState:
    if settings.telegram_bot_token is None:
        return ChannelState("Telegram", False, "DESKBOT_TELEGRAM_BOT_TOKEN not set")
    if settings.telegram_polling:
        return ChannelState("Telegram", True, f"polling {settings.telegram_api_url.rstrip('/')}... for updates "
                                              "(getUpdates: no public URL needed)")
    if settings.telegram_webhook_secret is None:
        return ChannelState("Telegram", False, "webhook mode needs DESKBOT_TELEGRAM_WEBHOOK_SECRET "
                                               "(or DESKBOT_TELEGRAM_MODE=polling)")
    if not settings.public_url_is_https:
        return ChannelState("Telegram", False, f"webhook mode needs an https DESKBOT_PUBLIC_URL that Telegram can "
                                               f"reach, not {settings.public_url} (or DESKBOT_TELEGRAM_MODE=polling)")
    return ChannelState("Telegram", True, f"webhook at {settings.public_url.rstrip('/')}/telegram/webhook "
                                          "(registered with setWebhook at start)")


def enabled_channels(settings: Settings) -> frozenset[str]:
    """The channels that send in this deployment (notices are only queued for these)."""
    names = {"Web chat": "webchat", "Email": "email", "Slack": "slack", "Telegram": "telegram"}
    return frozenset(names[s.name] for s in channel_states(settings) if s.on)


def _smtp_security(settings: Settings) -> str:
    tls = ("STARTTLS required" if settings.smtp_require_starttls else "STARTTLS offered") if settings.smtp_tls_cert else ""
    auth = "AUTH required" if settings.smtp_auth_users or settings.smtp_auth_users_file else ""
    relays = f"trusted relays {', '.join(settings.smtp_trusted_relays)}" if settings.smtp_trusted_relays else ""
    parts = [p for p in (tls, auth, relays) if p]
    return f" ({', '.join(parts)})" if parts else ""


class DeskRateLimiter:
    """The channels' ``RateLimiter`` on the desk's counters (``desk.limits``): shared by processes, kept on restart."""

    def __init__(self, uow: UnitOfWork):
        self._uow = uow

    @property
    def uow(self) -> UnitOfWork:
        return self._uow

    def hit(self, checks: Sequence[RateLimit]) -> dt.timedelta | None:
        with self._uow() as session:
            return limits.hit(session=session, limits=desk_limits(checks), now=dt.datetime.now(dt.UTC))

    def blocked_for(self, checks: Sequence[RateLimit]) -> dt.timedelta | None:
        with self._uow() as session:
            return limits.blocked_for(session=session, limits=desk_limits(checks), now=dt.datetime.now(dt.UTC))


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
                             cache_dir=s.nlp_cache_dir, cache_entries=s.nlp_embedding_cache_entries)

    @cached_property
    def registry(self) -> "ModelRegistry":
        from nlp import ModelRegistry

        return ModelRegistry(self.settings.model_dir)

    @cached_property
    def analyzer(self) -> "Analyzer":
        from nlp import Analyzer

        return Analyzer(embedder=self.embedder, registry=self.registry, kb_index_dir=self.settings.kb_index_dir)

    def bot_settings(self) -> "BotSettings":
        from bot.worker_settings import BotSettings

        return BotSettings.from_settings(self.settings)

    @cached_property
    def notifier(self) -> "Notifiers":
        """The log, and each group's own Slack channel and address (through the outbox)."""
        from bot.notify import GroupNotifier, LogNotifier, Notifiers

        # No console_url: the web console is not built yet, and an "Open in console" button would lead to a 404.
        from bot.policy import labels

        return Notifiers([LogNotifier(), GroupNotifier(channels=enabled_channels(self.settings), intents=labels())])

    @cached_property
    def pipeline(self) -> "Pipeline":
        from bot.pipeline import Pipeline
        from channels.email import drop_attachments

        return Pipeline(uow=self.uow, analyzer=self.analyzer, notifier=self.notifier, settings=self.bot_settings(),
                        drop_from_raw={"email": drop_attachments})

    @property
    def taxonomy(self) -> "Taxonomy":
        """The intent taxonomy the policy, the desk's seeding and training share."""
        from desk.taxonomy import packaged_taxonomy

        return packaged_taxonomy()

    @property
    def nlp_data_dir(self) -> Path:
        if self.settings.nlp_data_dir is not None:
            return self.settings.nlp_data_dir
        import nlp

        return Path(nlp.__file__).with_name("data")

    @cached_property
    def verification(self) -> "ChatVerification":
        """The chat channels' one verification service: codes hashed in the desk, sent as ``code_delivery`` says.

        The code is mailed directly (the email channel's ``send_code``), not through the outbox: it is a
        secret the desk should not keep (it stores only a slow hash), it is useless after a few minutes
        (outbox retries would come too late), and the person must hear at once when sending failed
        ("try again") rather than wait for a code that never comes.
        """
        from bot.verification import ChatVerification, VerificationLimits

        s = self.settings
        return ChatVerification(uow=self.uow, send_code=self._code_sender(),
                                allowed_domains=tuple(s.webchat_allowed_domains or ()),
                                limits=VerificationLimits(
                                    codes_per_address=s.verification_codes_per_address_per_hour,
                                    codes_per_identity=s.verification_codes_per_identity_per_hour,
                                    failed_codes_per_address=s.verification_failed_codes_per_address_per_hour,
                                    failed_codes_per_identity=s.verification_failed_codes_per_identity_per_hour))

    def webchat(self) -> "WebChatChannel":
        """The web chat, its sign-in limits counted in the desk, its codes from ``verification``."""
        from channels.webchat import SignInLimits, WebChatChannel

        s = self.settings
        sign_in_limits = SignInLimits(
            sessions_per_ip=s.webchat_sessions_per_ip_per_hour, sessions=s.webchat_sessions_per_hour,
            codes_per_ip=s.webchat_codes_per_ip_per_hour, codes=s.webchat_codes_per_hour,
            failed_codes_per_ip=s.webchat_failed_codes_per_ip_per_hour)
        return WebChatChannel(verifier=self.verification, limiter=DeskRateLimiter(self.uow), limits=sign_in_limits,
                              max_streams=s.webchat_streams_per_session,
                              session_lifetime=dt.timedelta(hours=s.webchat_session_hours))

    def _code_sender(self) -> "Callable[[str, str], Awaitable[None]] | None":
        delivery = code_delivery(self.settings)
        if delivery is CodeDelivery.MAIL:
            return self.email().send_code
        if delivery is CodeDelivery.NONE:
            return None

        async def log_code(email: str, code: str) -> None:
            # Only where nobody but the operator can reach the chat (see code_delivery).
            logging.getLogger("deskbot.verification").warning("verification code for %s: %s", email, code)

        return log_code

    def relay(self) -> "Relay | None":
        """The outgoing mail relay, or None when DESKBOT_SMTP_RELAY_HOST is unset."""
        from channels.email import Relay

        s = self.settings
        if s.smtp_relay_host is None:
            return None
        return Relay(s.smtp_relay_host, s.smtp_relay_port, starttls=s.smtp_relay_starttls, tls=s.smtp_relay_tls,
                     username=s.smtp_relay_username,
                     password=s.smtp_relay_password.get_secret_value() if s.smtp_relay_password else None,
                     tls_context=s.smtp_relay_tls_context())

    def email(self) -> "EmailChannel":
        from channels.email import EmailChannel

        s = self.settings
        return EmailChannel(host=s.smtp_host, port=s.smtp_port, addresses=tuple(s.email_addresses),
                            max_bytes=s.smtp_max_bytes, relay=self.relay(),
                            tls_context=s.smtp_server_tls_context(), require_starttls=s.smtp_require_starttls,
                            auth_users=s.smtp_auth_credentials(), auth_allow_plaintext=s.smtp_auth_allow_plaintext,
                            trusted_relays=s.trusted_relay_networks(), verification=self.sender_verification(),
                            max_sessions=s.smtp_max_sessions, max_sessions_per_client=s.smtp_max_sessions_per_client)

    def sender_verification(self) -> "SenderVerification | None":
        """When a mail's From counts as verified; None (DESKBOT_EMAIL_VERIFICATION=off): never."""
        from channels.email import SenderVerification

        s = self.settings
        if s.email_verification == "off":
            return None
        return SenderVerification(authserv_ids=frozenset(i.strip().lower() for i in s.email_authserv_ids),
                                  company_domains=s.company_domains(), methods=frozenset(s.email_verification_methods))

    def slack(self) -> "SlackChannel":
        from channels.slack import SlackChannel

        s = self.settings
        assert s.slack_bot_token is not None and s.slack_signing_secret is not None
        return SlackChannel(bot_token=s.slack_bot_token.get_secret_value(),
                            signing_secret=s.slack_signing_secret.get_secret_value(), api_url=s.slack_api_url,
                            app_token=s.slack_app_token.get_secret_value() if s.slack_app_token else None,
                            socket_mode=s.slack_socket_mode)

    # --- Telegram (one block: the integrator moves it into the channel registry) ---------------------

    def telegram(self) -> "TelegramChannel":
        """Telegram over PTB, in the mode ``telegram_polling`` says; its /link codes from ``verification``."""
        from channels.telegram import TelegramChannel

        s = self.settings
        assert s.telegram_bot_token is not None
        secret = s.telegram_webhook_secret
        return TelegramChannel(token=s.telegram_bot_token.get_secret_value(), api_url=s.telegram_api_url,
                               file_url=s.telegram_file_url, verifier=self.verification,
                               polling=s.telegram_polling, webhook_secret=secret.get_secret_value() if secret else None,
                               webhook_url=f"{s.public_url.rstrip('/')}/telegram/webhook",
                               max_file_bytes=s.max_attachment_bytes)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
