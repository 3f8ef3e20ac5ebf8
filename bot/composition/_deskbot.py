"""``Deskbot``: the engine, the NLP, the pipeline and each channel adapter, built lazily from settings."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.composition._channels import CodeDelivery, code_delivery, enabled_channels
from bot.conversation import RateLimit
from bot.settings import Settings
from bot.verification import desk_limits
from desk import UnitOfWork, limits, make_engine, session_factory

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy import Engine

    from bot.notices import GroupNotices
    from bot.notify import Notifiers
    from channels.email import EmailChannel, Relay, SenderVerification
    from channels.slack import SlackChannel
    from channels.terminal import TerminalChannel
    from channels.webchat import WebChatChannel
    from bot.verification import ChatVerification
    from bot.worker import Pipeline
    from bot.worker_settings import BotSettings
    from desk.taxonomy import Taxonomy
    from nlp import Analyzer, Embedder, ModelRegistry


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

    def __init__(self, settings: Settings, *, analyzer: "Analyzer | None" = None):
        """``analyzer``: an NLP made elsewhere (tests hand over one trained for them); else built from settings."""
        self.settings = settings
        self._analyzer = analyzer

    @cached_property
    def engine(self) -> "Engine":
        return make_engine(self.settings.database_url)

    @cached_property
    def uow(self) -> UnitOfWork:
        """Every transaction of this process turns the desk's events into group notices before it commits."""
        return UnitOfWork(session_factory(self.engine), publish=self.notices)

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

    @property
    def analyzer(self) -> "Analyzer":
        if self._analyzer is None:
            from nlp import Analyzer

            self._analyzer = Analyzer(embedder=self.embedder, registry=self.registry,
                                      kb_index_dir=self.settings.kb_index_dir)
        return self._analyzer

    def bot_settings(self) -> "BotSettings":
        from bot.worker_settings import BotSettings

        return BotSettings.from_settings(self.settings)

    @cached_property
    def notifier(self) -> "Notifiers":
        """The log, and each group's own Slack channel and address (through the outbox)."""
        from bot.console import PREFIX
        from bot.notify import GroupNotifier, LogNotifier, Notifiers
        from bot.policy import labels

        return Notifiers([LogNotifier(), GroupNotifier(channels=enabled_channels(self.settings), intents=labels(),
                                                       console_url=f"{self.settings.public_url.rstrip('/')}{PREFIX}")])

    @cached_property
    def notices(self) -> "GroupNotices":
        """The unit of work's publish hook: the desk's events as the notifier's notices."""
        from bot.notices import GroupNotices

        return GroupNotices(self.notifier, kb_url=self.bot_settings().kb_url)

    @cached_property
    def pipeline(self) -> "Pipeline":
        from bot.worker import Pipeline
        from channels.email import drop_attachments

        analyzer = self.analyzer
        analyzer.warm_up()  # before serve or worker says it is ready: the first message waits for no model load
        return Pipeline(uow=self.uow, analyzer=analyzer, settings=self.bot_settings(),
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
        """The web chat, its sessions and sign-in limits kept in the desk, its codes from ``verification``."""
        from bot.chat_sessions import DeskChatSessions
        from channels.webchat import SignInLimits, WebChatChannel

        s = self.settings
        sign_in_limits = SignInLimits(
            sessions_per_ip=s.webchat_sessions_per_ip_per_hour, sessions=s.webchat_sessions_per_hour,
            codes_per_ip=s.webchat_codes_per_ip_per_hour, codes=s.webchat_codes_per_hour,
            failed_codes_per_ip=s.webchat_failed_codes_per_ip_per_hour)
        return WebChatChannel(verifier=self.verification, limiter=DeskRateLimiter(self.uow), limits=sign_in_limits,
                              sessions=DeskChatSessions(uow=self.uow,
                                                        idle=dt.timedelta(minutes=s.webchat_session_idle_minutes),
                                                        lifetime=dt.timedelta(hours=s.webchat_session_hours)),
                              max_streams=s.webchat_streams_per_session, max_file_bytes=s.max_attachment_bytes,
                              secure_cookies=s.public_url_is_https)

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
                            socket_mode=s.slack_socket_mode, max_file_bytes=s.max_attachment_bytes)

    def terminal(self, *, user: str, display_name: str, email: str | None,
                 write: "Callable[[str], None]") -> "TerminalChannel":
        """``deskbot chat``'s channel: this terminal."""
        from channels.terminal import TerminalChannel

        return TerminalChannel(user=user, display_name=display_name, email=email, write=write)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
