"""The company's mail relay, and the one connection to it that the email channel keeps between mails."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from bot.conversation import SendError

log = logging.getLogger("deskbot.email")


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

    def client(self) -> aiosmtplib.SMTP:
        """A client that connects as this relay asks (TLS, STARTTLS, AUTH), not yet connected."""
        return aiosmtplib.SMTP(hostname=self.host, port=self.port, username=self.username, password=self.password,
                               use_tls=self.tls, start_tls=True if self.starttls else (False if self.tls else None),
                               tls_context=self.tls_context, timeout=self.timeout)


class RelayConnection:
    """One SMTP session with the relay, kept open between mails and used by one mail at a time.

    A new session per mail cost a TCP handshake, the greeting, EHLO (and STARTTLS and AUTH where set) and QUIT:
    a burst of replies pays them once. A session idle for more than ``REUSE_WITHIN`` seconds is not trusted (relays
    close idle sessions, NAT forgets them): it is closed and a new one opened. A reused session that turns out
    closed is replaced once, for that mail; a fresh one that fails fails the mail (the outbox retries it).
    """

    REUSE_WITHIN = 30.0

    def __init__(self, relay: Relay):
        self.relay = relay
        self._smtp: aiosmtplib.SMTP | None = None
        self._used_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    async def send(self, mail: EmailMessage) -> None:
        """Hand ``mail`` to the relay; SendError if it did not take it."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a session and a lock belong to the loop that made them
            self._smtp, self._loop, self._lock = None, loop, asyncio.Lock()
        async with self._lock:
            if self._smtp is not None and time.monotonic() - self._used_at > self.REUSE_WITHIN:
                await self._close()
            reused = self._smtp is not None
            try:
                await self._send(mail)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                if not reused:
                    raise self._failed(exc) from exc
                log.info("the relay %s:%s had closed its session (%s): sending on a new one",
                         self.relay.host, self.relay.port, exc)
                await self._close()
                try:
                    await self._send(mail)
                except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as again:
                    raise self._failed(again) from again
            except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                raise self._failed(exc) from exc

    async def close(self) -> None:
        """QUIT the session, if one is open (on the loop that opened it)."""
        if self._loop is asyncio.get_running_loop():
            async with self._lock:
                await self._close()

    async def _send(self, mail: EmailMessage) -> None:
        if self._smtp is None:
            smtp = self.relay.client()
            try:
                await smtp.connect()
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        await self._smtp.send_message(mail)
        self._used_at = time.monotonic()

    def _failed(self, exc: BaseException) -> SendError:
        # The relay refused this mail and reset the envelope (aiosmtplib sends RSET): the session stays usable.
        if not isinstance(exc, aiosmtplib.SMTPResponseException) and self._smtp is not None:
            self._smtp.close()
            self._smtp = None
        return SendError(f"relay {self.relay.host}:{self.relay.port}: {exc}")

    async def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError):
            smtp.close()
