"""Settings from ``DESKBOT_*`` environment variables and an optional ``deskbot.toml``.

Precedence: environment, then the TOML file (``DESKBOT_CONFIG`` names it; default
``./deskbot.toml``), then the defaults below, which are the embedded set-up: SQLite
under ``./var``, the packaged model, email and web chat on loopback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
import zoneinfo
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.attachments import DEFAULT_REFUSED_TYPES, check_types

DEFAULT_CONFIG_FILE = Path("deskbot.toml")
DEFAULT_NLP_BACKEND: Final = "onnx"  # what a new install serves (see nlp_backend)


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
    # Every request body, on every route, is cut off above this (413) before a handler reads it: Slack's
    # events and interactivity payloads and the web chat's JSON stay far below 1 MiB, and a client posting
    # gigabytes must not fill the memory. No route needs more today.
    http_max_body_bytes: int = Field(1024 * 1024, gt=0)
    # Room of its own for a path prefix, e.g. {"/api/attachments": 26214400}; the longest matching prefix wins.
    http_max_body_bytes_by_prefix: dict[str, int] = {}
    http_docs: bool = True  # /docs, /redoc and /openapi.json; false: the API's description is not published
    # A developer's desk: with no mail relay, the web chat's one-time codes go to the log. Also so when
    # public_url is loopback-only (nobody else can reach the chat); otherwise sign-in needs the relay.
    dev_mode: bool = False

    # Calendar given to the groups a new desk is seeded with.
    timezone: str = "UTC"
    working_hours: str = "mon-fri 09:00-17:00"
    reopen_window_days: int = Field(7, ge=0)
    max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0)
    # Attachments never kept (".ext" or a MIME type); the message is kept and the ticket gets a note.
    refused_attachment_types: list[str] = list(DEFAULT_REFUSED_TYPES)

    # NLP: the packaged model as int8 ONNX (built from it on first use; it decides as torch does, reads one
    # sentence in half torch's time and starts faster: README, "The NLP, measured"), or on torch; one CPU thread
    # by default because the service shares the machine with its workers. "hashing" is a bag of words with no
    # model, deterministic and instant: for tests of the plumbing (deskbot processes the tests start), never for
    # people.
    nlp_backend: Literal["torch", "onnx", "hashing"] = DEFAULT_NLP_BACKEND
    nlp_model_path: Path | None = None
    nlp_threads: int = Field(1, ge=1, le=64)
    # 'deskbot nlp train' fine-tunes MiniLM's top layer on the intents before fitting the classifier;
    # unset: only with at least 50 training texts an intent (below that it overfits).
    nlp_tune_top_layer: bool | None = None
    nlp_data_dir: Path | None = None  # training data; default: the packaged nlp/data
    # Sentence vectors kept in the embedding cache (var/nlp/embeddings.sqlite, about 1.6 kB each); beyond it the
    # oldest go, so the cache does not grow with every message read. Enough for the training data and KB many times.
    nlp_embedding_cache_entries: int = Field(50_000, ge=1)
    kb_dir: Path = Path("kb_articles")  # the seed 'deskbot kb import' reads; the desk holds the articles
    # How often a running bot compares its KB index with the desk's published articles (and rebuilds what changed):
    # an article published in the console is answered with within this time, without a restart.
    kb_refresh_seconds: float = Field(30, gt=0)

    # The bot's policy. A KB answer is the best article written for the intent read, at an intent confidence the
    # model chose on its validation split (97 % of its answers right); the retrieval threshold is a floor under
    # that article's cosine. Chosen with `bench/decisions.py --split val`: since out-of-scope texts are a class
    # of their own, no floor from 0 to 0.45 changed answer precision (98.2-98.3 %), and 0.15 kept the most
    # coverage above zero (59.9 % against 47.7 % at 0.45).
    retrieval_threshold: float = Field(0.15, ge=0, le=1)
    answer_threshold: float | None = Field(None, ge=0, le=1)
    confirmation_window_hours: float = Field(24, gt=0)
    major_incident_count: int = Field(3, ge=2)
    major_incident_minutes: int = Field(30, ge=1)
    major_incident_similarity: float = Field(0.74, ge=0, le=1)  # chosen by bench/major_pairs.py on its labelled pairs
    major_incident_named_similarity: float = Field(0.80, ge=0, le=1)  # ... for two reports naming one system
    public_url: str = "http://127.0.0.1:8080"
    # A message claimed by a worker (a reply claimed by a dispatcher) whose process died is taken again after this.
    worker_lease_seconds: float = Field(60, gt=0)
    # Worker processes 'deskbot serve' starts for the NLP and the desk work of messages, so that work never holds
    # the process that accepts mail and answers HTTP; 1 suits 2 cores (serve itself and one worker). 0: serve
    # handles messages in a thread of its own process.
    workers: int = Field(1, ge=0, le=32)
    # Messages a worker claims and analyses at once: the NLP embeds a batch in one pass, much faster than one by one.
    worker_batch_size: int = Field(16, ge=1)
    # Messages of a claimed batch whose desk work commits in one transaction, each in a savepoint of its own. More
    # means fewer commits, but on SQLite a transaction holds the one write lock, and accepting mail waits for it.
    worker_messages_per_transaction: int = Field(1, ge=1)
    # Attempts at one message before it is parked as failed ('deskbot inbox failed'), so one bad message cannot
    # stall the worker by failing forever.
    worker_max_attempts: int = Field(5, ge=1)
    # Attempts at sending one reply before it is parked as failed ('deskbot outbox failed'): more than for inbound,
    # because a channel that is down for a while (a relay restart, Slack's rate limits) is the usual cause.
    outbox_max_attempts: int = Field(8, ge=1)
    outbox_batch_size: int = Field(32, ge=1)  # replies one dispatcher claims at once
    # Days after which a handled message's raw payload (the raw mail, attachment bytes) and a sent reply's text
    # are purged from the inbox and outbox by the housekeeping loop; rows and keys stay (redeliveries stay one).
    inbox_retention_days: int = Field(90, ge=1)

    email_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(2525, ge=0, le=65535)
    email_addresses: list[str] = ["support@deskbot.example"]  # mail to any other address gets 550
    smtp_max_bytes: int = Field(25 * 1024 * 1024, gt=0)
    email_replies_per_hour: int = Field(10, ge=0)  # bot replies to one sender per hour; then a note, no mail
    # Mails from one sender address processed per hour (0: no limit); the rest are stored as held, unprocessed and
    # notifying nobody, so one address cannot open a thousand tickets ('deskbot inbox held' / 'release').
    email_inbound_per_hour: int = Field(30, ge=0)
    # Open SMTP sessions at once, in all and per client address: one more gets 421 and its server retries later,
    # so a flood of connections cannot exhaust the process. 20 a client because Postfix, the usual company relay,
    # opens up to 20 connections to one destination.
    smtp_max_sessions: int = Field(100, ge=1)
    smtp_max_sessions_per_client: int = Field(20, ge=1)
    smtp_relay_host: str | None = None  # where replies go out; unset: replies wait in the outbox
    # Whose mail is whose (DESIGN.md, "Who is who"). "off": no mail's From counts as verified (mail is answered,
    # it links no identities: the embedded default). "authentication-results": a mail handed over by the
    # company's server (SMTP AUTH or a trusted relay) whose topmost Authentication-Results, written under one
    # of the authserv-ids, says a method below passed aligned with a From in a company domain.
    email_verification: Literal["off", "authentication-results"] = "off"
    email_authserv_ids: list[str] = []  # e.g. ["mx.corp.example"]; "-" for Exchange Online's header, which has none
    email_verification_methods: list[Literal["dmarc", "spf", "dkim"]] = ["dmarc"]
    email_company_domains: list[str] = []  # unset: the domains of DESKBOT_EMAIL_ADDRESSES
    # The company's mail servers (addresses or CIDR networks) that hand mail over without AUTH; when set,
    # nobody else may (except AUTH users). Needed to listen beyond loopback without AUTH.
    smtp_trusted_relays: list[str] = []
    smtp_relay_port: int = Field(25, ge=1, le=65535)
    # Inbound: STARTTLS is offered when a certificate is set; AUTH (PLAIN, LOGIN) is required when users are set.
    smtp_tls_cert: FilePath | None = None  # PEM certificate chain
    smtp_tls_key: FilePath | None = None  # PEM private key; unset: it is in the certificate file
    smtp_require_starttls: bool = False  # refuse every command but EHLO/STARTTLS/QUIT before STARTTLS
    smtp_auth_users: SecretStr | None = None  # "user:password" pairs separated by commas or white space
    smtp_auth_users_file: FilePath | None = None  # one "user:password" a line (a password may hold any character)
    smtp_auth_allow_plaintext: bool = False  # AUTH without TLS: only when explicitly allowed
    # Outbound: how deskbot logs in to the relay.
    smtp_relay_starttls: bool = False  # require STARTTLS (unset: used if the relay offers it)
    smtp_relay_tls: bool = False  # implicit TLS from the first byte (port 465)
    smtp_relay_username: str | None = None
    smtp_relay_password: SecretStr | None = None
    smtp_relay_ca_file: FilePath | None = None  # trust this CA (PEM) for the relay's certificate
    smtp_relay_verify: bool = True  # false: accept any relay certificate (tests, never production)

    # Web chat sign-in: a one-time code is mailed only to these domains; unset: the domains of email_addresses.
    webchat_allowed_domains: list[str] | None = None
    # Limits per hour, counted in the database (a restart or a second process does not reset them). An office
    # behind one NAT address shares the per-IP limits, hence room for a few dozen people signing in at once.
    webchat_sessions_per_ip_per_hour: int = Field(60, ge=1)
    webchat_sessions_per_hour: int = Field(5000, ge=1)  # all clients together: a flood from many addresses
    webchat_codes_per_ip_per_hour: int = Field(20, ge=1)
    webchat_codes_per_hour: int = Field(500, ge=1)  # all clients together: the relay's reputation
    webchat_failed_codes_per_ip_per_hour: int = Field(30, ge=1)
    # The one-time codes of every chat channel (web chat, Telegram's /link), per hour, counted in the database.
    verification_codes_per_address_per_hour: int = Field(5, ge=1)  # no mail-bombing of one person
    verification_codes_per_identity_per_hour: int = Field(5, ge=1)  # one chat account cannot mail many people
    # Wrong codes: with 5 tries per code, 10 an hour per address makes guessing a 6-digit code hopeless.
    verification_failed_codes_per_address_per_hour: int = Field(10, ge=1)
    verification_failed_codes_per_identity_per_hour: int = Field(10, ge=1)
    webchat_streams_per_session: int = Field(3, ge=1)  # open reply streams (browser tabs) of one chat
    webchat_session_hours: float = Field(12, gt=0)  # a session's absolute lifetime, however active it is
    # A chat session ends after this long without a request (an open chat window keeps it going).
    webchat_session_idle_minutes: int = Field(120, ge=1)

    # Agents' and admins' sign-in to the API and the console (bot/web). A console session ends after this long
    # without a request, and in any case this many hours after sign-in (a working day), however active.
    web_session_idle_minutes: int = Field(60, ge=1)
    web_session_hours: float = Field(12, gt=0)
    # Sign-in attempts, right or wrong, per hour, counted in the database (a restart or a second process does not
    # reset them). Per account: 10 an hour makes guessing a 12-character password hopeless while a person who
    # mistypes a few times is not locked out. Per client address: one machine cannot try many accounts; an office
    # behind one NAT address shares it, hence room for a few dozen agents signing in at once.
    login_attempts_per_account_per_hour: int = Field(10, ge=1)
    login_attempts_per_ip_per_hour: int = Field(60, ge=1)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None  # xapp-...: only for Socket Mode
    slack_socket_mode: bool = False  # receive events over Socket Mode instead of HTTP (no public URL needed)
    slack_api_url: str = "https://slack.com/api/"  # the Web API (tests point it at a fake on loopback)
    slack_reply_prefix: str = "!reply"  # an agent's message in a ticket's Slack thread starting so goes to the requester
    telegram_bot_token: SecretStr | None = None  # from BotFather; Telegram starts when it is set
    # "webhook": Telegram POSTs updates to {public_url}/telegram/webhook (a public https URL); "polling": deskbot
    # asks for them (getUpdates), for a desk without a public URL. See telegram_polling below.
    # unset: webhook when DESKBOT_TELEGRAM_WEBHOOK_SECRET is set, else polling.
    telegram_mode: Literal["webhook", "polling"] | None = None
    telegram_webhook_secret: SecretStr | None = None  # sent back by Telegram on every update; webhook mode needs it
    telegram_api_url: str = "https://api.telegram.org/bot"  # the Bot API (tests point it at a fake on loopback)
    telegram_file_url: str = "https://api.telegram.org/file/bot"  # where getFile's files are fetched

    @property
    def telegram_polling(self) -> bool:
        if self.telegram_mode is not None:
            return self.telegram_mode == "polling"
        return self.telegram_webhook_secret is None

    @property
    def nlp_cache_dir(self) -> Path:
        return self.data_dir / "nlp"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def kb_index_dir(self) -> Path:
        return self.data_dir / "kb_index"

    @property
    def public_url_is_loopback(self) -> bool:
        """Whether only this machine can reach the public URL (http://127.0.0.1..., localhost, [::1])."""
        return is_loopback_host(urlsplit(self.public_url).hostname or "")

    @property
    def public_url_is_https(self) -> bool:
        """Whether browsers reach deskbot over TLS: then its cookies are ``Secure`` (never sent in clear)."""
        return urlsplit(self.public_url).scheme.lower() == "https"

    @model_validator(mode="after")
    def _webchat_domains_default(self) -> Settings:
        if self.webchat_allowed_domains is None:
            self.webchat_allowed_domains = sorted({a.rpartition("@")[2].lower() for a in self.email_addresses})
        if not self.webchat_allowed_domains:
            raise ConfigError("DESKBOT_WEBCHAT_ALLOWED_DOMAINS is empty: nobody could sign in to the web chat")
        return self

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _valid_telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's own rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1 to 256 characters of A-Z, a-z, 0-9, '_' and '-' (Telegram's rule)")
        return value

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

    @field_validator("refused_attachment_types")
    @classmethod
    def _valid_types(cls, value: list[str]) -> list[str]:
        return check_types(value)

    @field_validator("database_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        from desk.db import check_database_url

        check_database_url(value)
        return value

    @model_validator(mode="after")
    def _workers_share_the_database(self) -> Settings:
        from desk.db import is_in_memory

        if self.workers and is_in_memory(self.database_url):
            raise ConfigError(f"DESKBOT_WORKERS={self.workers} with an in-memory SQLite database: worker processes "
                              "cannot share it; use a database file or DESKBOT_WORKERS=0")
        return self

    @field_validator("smtp_trusted_relays")
    @classmethod
    def _valid_relays(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    def trusted_relay_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in self.smtp_trusted_relays)

    def company_domains(self) -> frozenset[str]:
        domains = self.email_company_domains or [a.rpartition("@")[2] for a in self.email_addresses]
        return frozenset(d.strip().lower().lstrip("@") for d in domains if d.strip())

    @model_validator(mode="after")
    def _consistent_email_security(self) -> Settings:
        auth = self.smtp_auth_users is not None or self.smtp_auth_users_file is not None
        if (self.email_enabled and not auth and not self.smtp_trusted_relays
                and not is_loopback_host(self.smtp_host)):
            raise ConfigError(f"DESKBOT_SMTP_HOST {self.smtp_host} is reachable from other machines, and without AUTH "
                              "anyone could hand it mail: set DESKBOT_SMTP_AUTH_USERS or DESKBOT_SMTP_TRUSTED_RELAYS")
        if self.email_verification != "off":
            if not self.email_authserv_ids:
                raise ConfigError("DESKBOT_EMAIL_VERIFICATION=authentication-results needs DESKBOT_EMAIL_AUTHSERV_IDS: "
                                  "the authserv-id your mail server writes in its Authentication-Results header")
            if not auth and not self.smtp_trusted_relays:
                raise ConfigError("DESKBOT_EMAIL_VERIFICATION=authentication-results needs DESKBOT_SMTP_TRUSTED_RELAYS "
                                  "or SMTP AUTH users: only mail handed over by the company's server can be verified")
        if self.smtp_tls_key is not None and self.smtp_tls_cert is None:
            raise ConfigError("DESKBOT_SMTP_TLS_KEY is set without DESKBOT_SMTP_TLS_CERT")
        if self.smtp_require_starttls and self.smtp_tls_cert is None:
            raise ConfigError("DESKBOT_SMTP_REQUIRE_STARTTLS needs a certificate: set DESKBOT_SMTP_TLS_CERT")
        if ((self.smtp_auth_users is not None or self.smtp_auth_users_file is not None)
                and self.smtp_tls_cert is None and not self.smtp_auth_allow_plaintext):
            raise ConfigError("SMTP AUTH needs TLS so that passwords do not cross the network in clear: set "
                              "DESKBOT_SMTP_TLS_CERT (or DESKBOT_SMTP_AUTH_ALLOW_PLAINTEXT=true)")
        if (self.smtp_auth_users is not None or self.smtp_auth_users_file is not None) and not self.smtp_auth_credentials():
            # an empty list must not silently turn AUTH off (a malformed entry stops start-up in there too)
            raise ConfigError("DESKBOT_SMTP_AUTH_USERS / DESKBOT_SMTP_AUTH_USERS_FILE list no user: AUTH would be off")
        self.smtp_server_tls_context()  # so does a certificate that does not load
        if self.smtp_relay_ca_file is not None:
            self.smtp_relay_tls_context()
        if self.smtp_relay_starttls and self.smtp_relay_tls:
            raise ConfigError("DESKBOT_SMTP_RELAY_STARTTLS and DESKBOT_SMTP_RELAY_TLS exclude each other: "
                              "STARTTLS upgrades a plain connection (port 25/587), TLS starts encrypted (port 465)")
        if (self.smtp_relay_username is None) != (self.smtp_relay_password is None):
            raise ConfigError("DESKBOT_SMTP_RELAY_USERNAME and DESKBOT_SMTP_RELAY_PASSWORD go together")
        if self.smtp_relay_username is not None and not (self.smtp_relay_starttls or self.smtp_relay_tls):
            raise ConfigError("DESKBOT_SMTP_RELAY_USERNAME needs DESKBOT_SMTP_RELAY_STARTTLS or DESKBOT_SMTP_RELAY_TLS: "
                              "the password would cross the network in clear")
        return self

    def smtp_server_tls_context(self) -> ssl.SSLContext | None:
        """The inbound server's TLS context (STARTTLS) from DESKBOT_SMTP_TLS_CERT/KEY, or None."""
        if self.smtp_tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.smtp_tls_cert, self.smtp_tls_key)
        except (ssl.SSLError, OSError) as exc:
            key = f" with the key {self.smtp_tls_key}" if self.smtp_tls_key else ""
            raise ConfigError(f"DESKBOT_SMTP_TLS_CERT {self.smtp_tls_cert}{key}: not a usable PEM certificate and "
                              f"private key ({getattr(exc, 'reason', None) or exc})") from None
        return context

    def smtp_relay_tls_context(self) -> ssl.SSLContext:
        """How deskbot checks the relay's certificate: the system's CAs, or DESKBOT_SMTP_RELAY_CA_FILE."""
        try:
            context = ssl.create_default_context(cafile=self.smtp_relay_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"DESKBOT_SMTP_RELAY_CA_FILE {self.smtp_relay_ca_file}: not a usable PEM CA certificate "
                              f"({getattr(exc, 'reason', None) or exc})") from None
        if not self.smtp_relay_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def smtp_auth_credentials(self) -> dict[str, str]:
        """The SMTP AUTH users (user -> password) from DESKBOT_SMTP_AUTH_USERS and DESKBOT_SMTP_AUTH_USERS_FILE."""
        entries: list[tuple[str, str]] = []
        if self.smtp_auth_users is not None:
            entries += [("DESKBOT_SMTP_AUTH_USERS", e) for e in self.smtp_auth_users.get_secret_value().replace(",", " ").split()]
        if self.smtp_auth_users_file is not None:
            try:
                lines = self.smtp_auth_users_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"DESKBOT_SMTP_AUTH_USERS_FILE {self.smtp_auth_users_file}: cannot read it ({exc})") from None
            entries += [(f"DESKBOT_SMTP_AUTH_USERS_FILE line {i}", line.strip()) for i, line in enumerate(lines, 1)
                        if line.strip() and not line.lstrip().startswith("#")]
        users: dict[str, str] = {}
        for where, entry in entries:
            user, sep, password = entry.partition(":")
            if not sep or not user.strip() or not password:
                # never echo the entry: it may hold a password
                raise ConfigError(f"{where}: an entry is not 'user:password'")
            users[user.strip()] = password
        return users

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


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: this machine only (a name other than localhost may resolve to anything)."""
    host = host.strip().lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
        got = error.get("input")
        if name == "database_url" and isinstance(got, str):
            from desk.db import masked_url

            got = masked_url(got)
        raise ConfigError(f"invalid setting {where}: {message} (got {got!r})") from None
