"""The email channel: an SMTP server (aiosmtpd) for the support address, replies through a relay.

The server answers ``250`` only after the bot committed the message; anything else gets a
clear SMTP error and the sending server keeps the mail and tries again. With a TLS context it
offers (or requires) STARTTLS; with users it requires AUTH (PLAIN or LOGIN), over TLS only
unless plaintext AUTH was explicitly allowed: a wrong password gets ``535`` and no mail. It holds at
most so many sessions at once, in all and per client address; one more gets ``421`` and is closed
before it can say a word.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import logging
import re
import secrets
import ssl
import time
from collections.abc import Mapping
from email import policy
from email.parser import BytesParser
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from bot.conversation import ConversationRef, Identity, InboundMessage, OnMessage, Reply, SendError
from channels.email._parse import LOOP_HEADER, LOOP_VALUE, ParsedMail, parse_mail
from channels.email._relay import Relay, RelayConnection
from channels.email._render import html_body, plain_body
from channels.email._trust import SenderVerification, Verdict, trusted_peer

log = logging.getLogger("deskbot.email")


_TOO_MANY_SESSIONS = b"421 4.7.0 too many connections, try again later\r\n"
# asyncio's default listen backlog (100) overflows in a burst of connections, and the kernel then leaves those
# clients connected but never accepted, waiting for a greeting that never comes; a deep queue lets the gate
# answer each of them at once (421 beyond the limit). Linux caps it at net.core.somaxconn.
_LISTEN_BACKLOG = 1024
_REFUSAL_LOG_EVERY = 60.0  # seconds: a flood of refused sessions is one warning a minute, not one a connection


class _SessionGate:
    """Counts the open SMTP sessions, in all and per client address, and says whether one more may open."""

    def __init__(self, *, max_sessions: int | None, max_per_client: int | None):
        # None: no limit (the deployment's limits come from Settings through the composition root)
        self.max_sessions = max_sessions if max_sessions is not None else float("inf")
        self.max_per_client = max_per_client if max_per_client is not None else float("inf")
        self._per_client: dict[str, int] = {}
        self.open = 0
        self._refused_unlogged = 0
        self._logged_at = -_REFUSAL_LOG_EVERY

    def admit(self, client: str) -> bool:
        if self.open >= self.max_sessions or self._per_client.get(client, 0) >= self.max_per_client:
            self._log_refusal(client)
            return False
        self.open += 1
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return True

    def release(self, client: str) -> None:
        self.open -= 1
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            del self._per_client[client]  # so a stream of one-off clients does not grow the map

    def _log_refusal(self, client: str) -> None:
        self._refused_unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= _REFUSAL_LOG_EVERY:
            log.warning("SMTP sessions refused with 421: %d since the last such warning, the latest from %s "
                        "(%d open; limits %s in all, %s a client)", self._refused_unlogged, client, self.open,
                        self.max_sessions, self.max_per_client)
            self._refused_unlogged, self._logged_at = 0, now


class _GatedSMTP(SMTP):
    """aiosmtpd's SMTP behind a ``_SessionGate``, reading the socket in small pieces.

    A session over the limit gets ``421`` and is closed at once, before aiosmtpd reads anything from it (asyncio
    calls these on the event loop thread, so no lock). asyncio reads up to 256 KB at a time, and aiosmtpd splits
    all of it into DATA lines without yielding: 40 to 170 ms of event loop per read of a large mail, while HTTP and
    Slack's acks wait. Reads of 16 KB cut that to a few milliseconds (the attribute is the selector transport's;
    other transports keep their own).
    """

    READ_BYTES = 16 * 1024

    def __init__(self, gate: _SessionGate, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._gate = gate
        self._client: str | None = None  # the admitted client's address; None while not admitted
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # a new connection; a STARTTLS upgrade calls this again on the same session
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if peer else ""
            if not self._gate.admit(client):
                self._refused = True
                transport.write(_TOO_MANY_SESSIONS)  # type: ignore[attr-defined]
                transport.close()
                return
            self._client = client
        super().connection_made(transport)
        if hasattr(transport, "max_size"):
            transport.max_size = self.READ_BYTES

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # aiosmtpd never started on this connection: nothing of its own to tear down
        if self._client is not None:
            self._gate.release(self._client)
            self._client = None
        super().connection_lost(error)


class _Handler:
    def __init__(self, channel: EmailChannel):
        self.channel = channel

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:  # noqa: ANN001, N802
        refusal = self.channel._refuse_sender(session)
        if refusal:
            return refusal
        if address.strip().lower() not in self.channel.addresses:
            return "550 5.1.1 not a support address of this service desk"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        return await self.channel._receive(envelope.original_content or b"", envelope.mail_from or "",
                                           authenticated=bool(session.authenticated),
                                           peer=session.peer[0] if isinstance(session.peer, tuple) else None)


class EmailChannel:
    name = "email"

    def __init__(self, *, host: str, port: int, addresses: tuple[str, ...], max_bytes: int,
                 relay: Relay | None = None, relay_host: str | None = None, relay_port: int = 25,
                 domain: str = "deskbot.example",
                 tls_context: ssl.SSLContext | None = None, require_starttls: bool = False,
                 auth_users: Mapping[str, str] | None = None, auth_allow_plaintext: bool = False,
                 trusted_relays: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (),
                 verification: SenderVerification | None = None,
                 max_sessions: int | None = None, max_sessions_per_client: int | None = None):
        if require_starttls and tls_context is None:
            raise ValueError("require_starttls needs a tls_context")
        if auth_users and tls_context is None and not auth_allow_plaintext:
            raise ValueError("AUTH without TLS must be allowed explicitly (auth_allow_plaintext)")
        self.addresses = frozenset(a.strip().lower() for a in addresses)
        self._host, self._port, self._max_bytes = host, port, max_bytes
        self._tls_context, self._require_starttls = tls_context, require_starttls
        self._auth_users = {u: p.encode("utf-8") for u, p in (auth_users or {}).items()}
        self._auth_allow_plaintext = auth_allow_plaintext
        # With trusted relays, only they (and AUTH users) may hand mail over; without either, anyone may.
        self._trusted_relays = trusted_relays
        self._verification = verification  # None: no mail's From is taken as verified
        relay = relay or (Relay(relay_host, relay_port) if relay_host else None)
        self._relay = RelayConnection(relay) if relay is not None else None
        self._domain = domain
        self._max_sessions, self._max_sessions_per_client = max_sessions, max_sessions_per_client
        self._gate: _SessionGate | None = None
        self._server: asyncio.base_events.Server | None = None
        self._on_message: OnMessage | None = None

    @property
    def port(self) -> int:
        if self._server is not None:
            return self._server.sockets[0].getsockname()[1]
        return self._port

    @property
    def sessions_open(self) -> int:
        return self._gate.open if self._gate is not None else 0

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        # A trusted relay hands mail over without AUTH, so AUTH is then checked per session (_refuse_sender).
        auth = dict(authenticator=self._authenticate, auth_required=not self._trusted_relays,
                    auth_require_tls=not self._auth_allow_plaintext) if self._auth_users else {}
        self._gate = gate = _SessionGate(max_sessions=self._max_sessions, max_per_client=self._max_sessions_per_client)
        self._server = await loop.create_server(
            lambda: _GatedSMTP(gate, handler, data_size_limit=self._max_bytes, hostname=self._domain, ident="deskbot",
                               tls_context=self._tls_context, require_starttls=self._require_starttls, **auth),
            self._host, self._port, backlog=_LISTEN_BACKLOG)

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

    def _refuse_sender(self, session) -> str | None:  # noqa: ANN001
        """With trusted relays configured, mail comes only from them or from an authenticated session."""
        if not self._trusted_relays or session.authenticated:
            return None
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        if trusted_peer(peer, self._trusted_relays):
            return None
        if self._auth_users:
            return "530 5.7.0 authentication required"
        return f"550 5.7.1 {peer} is not a trusted relay of this service desk"

    async def stop(self) -> None:
        self._on_message = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._relay is not None:
            await self._relay.close()

    async def _receive(self, raw: bytes, mail_from: str, *, authenticated: bool = False,
                       peer: str | None = None) -> str:
        if self._on_message is None:
            return "421 4.3.2 service shutting down, try again later"
        if len(raw) > self._max_bytes:
            return f"552 5.3.4 message too big (limit {self._max_bytes} bytes)"
        # MIME parsing, HTML to text, quote stripping and the sender's verdict of a 25 MB mail take a second of
        # CPU: in a worker thread, so this loop keeps answering HTTP, the other SMTP sessions and Slack's acks.
        message = await asyncio.to_thread(self._inbound, raw, mail_from, authenticated=authenticated, peer=peer)
        if message is None:
            return "550 5.1.7 no sender address"
        try:
            await self._on_message(message)
        except Exception:  # noqa: BLE001 - not committed: the sending server must retry
            log.exception("could not store mail %s", message.key)
            return "451 4.3.0 could not store the message, try again later"
        return "250 2.0.0 message accepted"

    def _inbound(self, raw: bytes, mail_from: str, *, authenticated: bool, peer: str | None) -> InboundMessage | None:
        """The mail as the bot's message, or None without a sender address (runs in a worker thread)."""
        mail, verdict = self._read(raw, authenticated=authenticated, peer=peer)
        sender = mail.sender or mail_from.strip().lower()
        if not sender:
            return None
        log.info("mail %s from %s: %s", mail.message_id, sender,
                 "verified" if verdict.verified else f"unverified ({verdict.reason})")
        return InboundMessage(
            key=f"email:{mail.message_id}",
            conversation=ConversationRef("email", sender, mail.thread_root),
            # Anyone can write any From: the address is the sender's only when verdict says the company's
            # mail server vouched for it; otherwise the identity is a claim and links to nobody.
            sender=Identity("email", sender, mail.sender_name, sender, email_verified=verdict.verified,
                            authenticated=verdict.verified),
            text=mail.text or mail.subject, subject=mail.subject, received_at=dt.datetime.now(dt.UTC),
            attachments=mail.attachments, raw=raw.decode("utf-8", errors="replace"), automated=mail.automated,
            ticket_hint=mail.ticket_ref, native_id=mail.message_id, cites=mail.cites,
        )

    def _read(self, raw: bytes, *, authenticated: bool, peer: str | None) -> tuple[ParsedMail, Verdict]:
        mail = parse_mail(raw, own_addresses=self.addresses)
        if self._verification is None:
            return mail, Verdict(False, "sender verification is off (DESKBOT_EMAIL_VERIFICATION)")
        # compat32 leaves header values as written: the verdict reads only three, each at most a few KB
        headers = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
        through_mta = authenticated or trusted_peer(peer, self._trusted_relays)
        return mail, self._verification.verdict(headers, through_company_mta=through_mta)

    async def send(self, ref: ConversationRef, reply: Reply) -> str:
        """Mail the reply; returns its Message-ID (without angle brackets), which the outbox keeps: a later mail
        citing it proves its sender received this one."""
        if self._relay is None:
            raise SendError("no mail relay configured (DESKBOT_SMTP_RELAY_HOST)")
        mail = EmailMessage()
        support = sorted(self.addresses)[0]
        mail["From"] = formataddr(("IT Service Desk", support))
        mail["To"] = ref.address
        # A thread means we answer someone's mail; none means we start one (an agent group's notice).
        replying = bool(ref.thread)
        mail["Subject"] = reply_subject(reply.subject, reply.ticket_ref, replying=replying)
        mail["Date"] = formatdate(localtime=False)
        # Unguessable and nothing else in it: only a mail that really reached someone can cite it.
        message_id = f"{secrets.token_hex(16)}@{self._domain}"
        mail["Message-ID"] = f"<{message_id}>"
        if ref.thread:
            mail["In-Reply-To"] = f"<{ref.thread}>"
            mail["References"] = f"<{ref.thread}>"
        mail["Auto-Submitted"] = "auto-replied" if replying else "auto-generated"
        mail[LOOP_HEADER] = LOOP_VALUE
        mail.set_content(plain_body(reply))
        mail.add_alternative(html_body(reply), subtype="html")
        await self._relay.send(mail)
        return message_id

    async def send_code(self, address: str, code: str) -> None:
        """The web chat's one-time code, mailed at once through the relay (raises SendError if it cannot be)."""
        if self._relay is None:
            raise SendError("no mail relay configured (DESKBOT_SMTP_RELAY_HOST)")
        mail = EmailMessage()
        mail["From"] = formataddr(("IT Service Desk", sorted(self.addresses)[0]))
        mail["To"] = address
        mail["Subject"] = f"Your IT service desk chat code: {code}"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<code.{secrets.token_hex(16)}@{self._domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail[LOOP_HEADER] = LOOP_VALUE
        mail.set_content(f"Your code for the IT service desk web chat is {code}\n\n"
                         "Type it in the chat window; it expires in a few minutes. If you did not ask for it, ignore "
                         "this mail: nobody can chat under your address without the code.\n")
        await self._relay.send(mail)


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

