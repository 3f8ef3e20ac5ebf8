"""The email channel: an SMTP server (aiosmtpd) for the support address, replies through a relay.

The server answers ``250`` only after the bot committed the message; anything else gets a
clear SMTP error and the sending server keeps the mail and tries again. With a TLS context it
offers (or requires) STARTTLS; with users it requires AUTH (PLAIN or LOGIN), over TLS only
unless plaintext AUTH was explicitly allowed: a wrong password gets ``535`` and no mail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import re
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from bot.conversation import ConversationRef, Identity, InboundMessage, OnMessage, Reply, SendError
from channels.email._parse import LOOP_HEADER, LOOP_VALUE, parse_mail

log = logging.getLogger("deskbot.email")


class _Handler:
    def __init__(self, channel: EmailChannel):
        self.channel = channel

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:  # noqa: ANN001, N802
        if address.strip().lower() not in self.channel.addresses:
            return "550 5.1.1 not a support address of this service desk"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        return await self.channel._receive(envelope.original_content or b"", envelope.mail_from or "")


class _Session(SMTP):
    """aiosmtpd's session, reading the socket in small pieces.

    asyncio reads up to 256 KB at a time, and aiosmtpd splits all of it into DATA lines without
    yielding: 40 to 90 ms of event loop per read of a large mail, while HTTP and Slack's acks wait.
    Reads of 16 KB cut that to a few milliseconds (the attribute is the selector transport's; other
    transports keep their own).
    """

    READ_BYTES = 16 * 1024

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if hasattr(transport, "max_size"):
            transport.max_size = self.READ_BYTES


@dataclass(frozen=True)
class Relay:
    """The company's mail relay deskbot hands its outgoing mail to (STARTTLS or implicit TLS, optional AUTH)."""

    host: str
    port: int = 25
    starttls: bool = False  # require STARTTLS; otherwise it is used when the relay offers it
    tls: bool = False  # implicit TLS from the first byte (usually port 465)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)  # None: the system's CAs
    timeout: float = 30

    async def send(self, mail: EmailMessage) -> None:
        try:
            await aiosmtplib.send(mail, hostname=self.host, port=self.port, username=self.username,
                                  password=self.password, use_tls=self.tls,
                                  start_tls=True if self.starttls else (False if self.tls else None),
                                  tls_context=self.tls_context, timeout=self.timeout)
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise SendError(f"relay {self.host}:{self.port}: {exc}") from exc


class EmailChannel:
    name = "email"

    def __init__(self, *, host: str, port: int, addresses: tuple[str, ...], max_bytes: int,
                 relay: Relay | None = None, relay_host: str | None = None, relay_port: int = 25,
                 domain: str = "deskbot.example",
                 tls_context: ssl.SSLContext | None = None, require_starttls: bool = False,
                 auth_users: Mapping[str, str] | None = None, auth_allow_plaintext: bool = False):
        if require_starttls and tls_context is None:
            raise ValueError("require_starttls needs a tls_context")
        if auth_users and tls_context is None and not auth_allow_plaintext:
            raise ValueError("AUTH without TLS must be allowed explicitly (auth_allow_plaintext)")
        self.addresses = frozenset(a.strip().lower() for a in addresses)
        self._host, self._port, self._max_bytes = host, port, max_bytes
        self._tls_context, self._require_starttls = tls_context, require_starttls
        self._auth_users = {u: p.encode("utf-8") for u, p in (auth_users or {}).items()}
        self._auth_allow_plaintext = auth_allow_plaintext
        self.relay = relay or (Relay(relay_host, relay_port) if relay_host else None)
        self._domain = domain
        self._server: asyncio.base_events.Server | None = None
        self._on_message: OnMessage | None = None

    @property
    def port(self) -> int:
        if self._server is not None:
            return self._server.sockets[0].getsockname()[1]
        return self._port

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        auth = dict(authenticator=self._authenticate, auth_required=True,
                    auth_require_tls=not self._auth_allow_plaintext) if self._auth_users else {}
        self._server = await loop.create_server(
            lambda: _Session(handler, data_size_limit=self._max_bytes, hostname=self._domain, ident="deskbot",
                         tls_context=self._tls_context, require_starttls=self._require_starttls, **auth),
            self._host, self._port)

    def _authenticate(self, server, session, envelope, mechanism: str, auth_data) -> AuthResult:  # noqa: ANN001
        """PLAIN and LOGIN against the configured users; constant-time comparison, 535 on any mismatch."""
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", errors="replace")
        expected = self._auth_users.get(user)
        # compare against something even for an unknown user, so timing tells nothing about who exists
        ok = hmac.compare_digest(auth_data.password, expected if expected is not None else b"\0" * 16)
        if not (ok and expected is not None):
            log.warning("SMTP AUTH %s failed for %r from %s", mechanism, user, session.peer)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)

    async def stop(self) -> None:
        self._on_message = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _receive(self, raw: bytes, mail_from: str) -> str:
        if self._on_message is None:
            return "421 4.3.2 service shutting down, try again later"
        if len(raw) > self._max_bytes:
            return f"552 5.3.4 message too big (limit {self._max_bytes} bytes)"
        # MIME parsing, HTML to text and quote stripping of a 25 MB mail take a second of CPU: in a worker
        # thread, so this loop keeps answering HTTP, the other SMTP sessions and Slack's 3-second acks.
        message = await asyncio.to_thread(self._inbound, raw, mail_from)
        if message is None:
            return "550 5.1.7 no sender address"
        try:
            await self._on_message(message)
        except Exception:  # noqa: BLE001 - not committed: the sending server must retry
            log.exception("could not store mail %s", message.key)
            return "451 4.3.0 could not store the message, try again later"
        return "250 2.0.0 message accepted"

    def _inbound(self, raw: bytes, mail_from: str) -> InboundMessage | None:
        """The mail as the bot's message, or None without a sender address (runs in a worker thread)."""
        mail = parse_mail(raw, own_addresses=self.addresses)
        sender = mail.sender or mail_from.strip().lower()
        if not sender:
            return None
        return InboundMessage(
            key=f"email:{mail.message_id}",
            conversation=ConversationRef("email", sender, mail.thread_root),
            # The company's MTA authenticated the sender before relaying to us.
            sender=Identity("email", sender, mail.sender_name, sender, email_verified=True),
            text=mail.text or mail.subject, subject=mail.subject, received_at=dt.datetime.now(dt.UTC),
            attachments=mail.attachments, raw=raw.decode("utf-8", errors="replace"), automated=mail.automated,
            ticket_hint=mail.ticket_ref,
        )

    async def send(self, ref: ConversationRef, reply: Reply) -> None:
        if self.relay is None:
            raise SendError("no mail relay configured (DESKBOT_SMTP_RELAY_HOST)")
        mail = EmailMessage()
        support = sorted(self.addresses)[0]
        mail["From"] = formataddr(("IT Service Desk", support))
        mail["To"] = ref.address
        # A thread means we answer someone's mail; none means we start one (an agent group's notice).
        replying = bool(ref.thread)
        mail["Subject"] = reply_subject(reply.subject, reply.ticket_ref, replying=replying)
        mail["Date"] = formatdate(localtime=False)
        # The ticket number rides in our Message-ID too, so a reply that lost the subject still finds it.
        number = f"ticket-{reply.ticket_ref.lstrip('#')}." if reply.ticket_ref else ""
        mail["Message-ID"] = f"<{number}{uuid.uuid4().hex}@{self._domain}>"
        if ref.thread:
            mail["In-Reply-To"] = f"<{ref.thread}>"
            mail["References"] = f"<{ref.thread}>"
        mail["Auto-Submitted"] = "auto-replied" if replying else "auto-generated"
        mail[LOOP_HEADER] = LOOP_VALUE
        text = reply.as_plain_text().replace("(reply YES or NO)", "Reply YES or NO to this email.")
        mail.set_content(text)
        mail.add_alternative("<html><body>" + "".join(
            f"<p>{_escape(p)}</p>" for p in text.split("\n\n")) + "</body></html>", subtype="html")
        await self.relay.send(mail)

    async def send_code(self, address: str, code: str) -> None:
        """The web chat's one-time code, mailed at once through the relay (raises SendError if it cannot be)."""
        if self.relay is None:
            raise SendError("no mail relay configured (DESKBOT_SMTP_RELAY_HOST)")
        mail = EmailMessage()
        mail["From"] = formataddr(("IT Service Desk", sorted(self.addresses)[0]))
        mail["To"] = address
        mail["Subject"] = f"Your IT service desk chat code: {code}"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<code.{uuid.uuid4().hex}@{self._domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail[LOOP_HEADER] = LOOP_VALUE
        mail.set_content(f"Your code for the IT service desk web chat is {code}\n\n"
                         "Type it in the chat window; it expires in a few minutes. If you did not ask for it, ignore "
                         "this mail: nobody can chat under your address without the code.\n")
        await self.relay.send(mail)


# One reply prefix ("Re:", "AW :", "Re[2]:") with the single space that may follow it; matched at a position
# of a whitespace-normalised subject, so each try reads only the few characters of one prefix.
_REPLY_PREFIX = re.compile(r"(?:re|aw|sv|vs|antw|ref|réf|fw|fwd|tr|wg|rv) ?(?:\[\d{1,9}\] ?)?: ?", re.I)
_TICKET_TAG = re.compile(r"\[#\d{1,18}\]")
_SUBJECT_SHOWN = 200  # characters of the original subject repeated in ours


def reply_subject(original: str, ticket_ref: str | None, *, replying: bool = True) -> str:
    """``Re: <original subject> [#1042]``: the mail's own subject without its reply prefixes and ticket tags
    (without ``Re:`` when the mail starts a thread).

    Linear in the subject's length: ticket tags go in one substitution, then the leading prefixes are
    skipped one after another from a moving position (the string is never rebuilt per prefix).
    """
    base = " ".join(_TICKET_TAG.sub(" ", original or "").split())
    start = 0
    while (prefix := _REPLY_PREFIX.match(base, start)) is not None:
        start = prefix.end()
    base = base[start:].strip()
    base = (base[:_SUBJECT_SHOWN].rstrip() + "...") if len(base) > _SUBJECT_SHOWN else base
    return f"{'Re: ' if replying else ''}{base or 'your IT request'}" + (f" [{ticket_ref}]" if ticket_ref else "")


def _escape(text: str) -> str:
    import html

    return html.escape(text).replace("\n", "<br>")
