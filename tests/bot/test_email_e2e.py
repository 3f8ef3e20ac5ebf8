"""Email end to end: smtplib -> the real aiosmtpd server -> the bot -> replies through a relay
that is a second aiosmtpd server on loopback (the sink). SQLite and PostgreSQL, the plumbing NLP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import re
import smtplib
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult
from sqlalchemy import func, select

from bot.dispatcher import Dispatcher
from bot.worker import Pipeline
from channels.email import EmailChannel, parse_mail
from bot.composition import Deskbot, build_service
from bot.settings import Settings
from desk import Direction, ResolutionCode, Status, people, queue, tickets
from desk.models import InboxRow, Message, OutboxRow

SUPPORT = "support@deskbot.example"
# The company's MTA as these tests set it up: it hands mail over from loopback and writes its verdict under
# this authserv-id (a real one would also strip such headers from incoming mail, as RFC 8601 asks).
CORP_MTA = "mx.corp.example"


def mta_verdict(sender: str, dmarc: str = "pass", authserv_id: str = CORP_MTA) -> str:
    domain = sender.rpartition("@")[2]
    return f"{authserv_id}; spf=pass smtp.mailfrom={sender}; dmarc={dmarc} (p=reject) header.from={domain}"


class Sink:
    """The company's relay: keeps what deskbot sends out."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.sessions: list[SMTP] = []  # the session each mail came in, in order

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.mails.append(message_from_bytes(envelope.original_content, policy=policy.default))
        self.sessions.append(server)
        return "250 OK"


def mail(subject: str, body: str, *, message_id: str, sender: str = "ana@corp.example", verified: bool = True,
         **headers: str) -> EmailMessage:
    """A mail as the company's MTA hands it over: with its DMARC verdict on top when ``verified``."""
    m = EmailMessage()
    if verified:
        m["Authentication-Results"] = mta_verdict(sender)
    m["From"], m["To"], m["Subject"], m["Message-ID"] = f"Ana Silva <{sender}>", SUPPORT, subject, message_id
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


class MailDesk:
    """The email channel on loopback with the bot behind it, and the relay sink its replies reach."""

    def __init__(self, channel: EmailChannel, pipeline: Pipeline, dispatcher: Dispatcher, sink: Sink):
        self.channel, self.pipeline, self.dispatcher, self.sink = channel, pipeline, dispatcher, sink

    def smtp_send(self, message: EmailMessage, to: str = SUPPORT) -> None:
        with smtplib.SMTP("127.0.0.1", self.channel.port) as client:
            client.send_message(message, to_addrs=[to])

    async def run_bot(self) -> None:
        while await asyncio.to_thread(self.pipeline.process_batch):
            pass
        while await self.dispatcher.dispatch_once():
            pass

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self.smtp_send, message)
        await self.run_bot()


# The company's set-up these tests run in: its MTA on loopback hands mail over and vouches for corp.example.
COMPANY_MTA = dict(smtp_trusted_relays=["127.0.0.1/32"], email_verification="authentication-results",
                   email_authserv_ids=[CORP_MTA], email_company_domains=["corp.example"])


@contextlib.asynccontextmanager
async def mail_desk(uow, analyzer, *, setup: dict = COMPANY_MTA, relay_ssl: ssl.SSLContext | None = None,  # noqa: ANN001
                    relay_options: dict | None = None) -> AsyncIterator[MailDesk]:
    """The service as ``deskbot serve`` builds it from ``setup`` (settings), its email channel listening and the
    bot driven step by step; the sink is the relay (``relay_options`` for its SMTP)."""
    loop = asyncio.get_running_loop()
    sink = Sink()
    relay = await loop.create_server(lambda: SMTP(sink, **(relay_options or {})), "127.0.0.1", 0, ssl=relay_ssl)
    with uow() as session:  # the test's database
        database_url = session.get_bind().engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=database_url, smtp_port=0, email_addresses=[SUPPORT], smtp_max_bytes=200_000,
                        smtp_relay_host="127.0.0.1", smtp_relay_port=relay.sockets[0].getsockname()[1], **setup)
    deskbot = Deskbot(settings, analyzer=analyzer)
    service = build_service(deskbot)
    channel = service.adapters["email"]
    await channel.start(service.pipeline.receive)
    try:
        yield MailDesk(channel, service.pipeline, service.dispatcher("email"), sink)
    finally:
        await channel.stop()
        relay.close()
        deskbot.close()


def test_locked_account_by_mail_yes_closes_and_out_of_office_gets_no_answer(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer) as desk:
            sink, smtp_send, run_bot = desk.sink, desk.smtp_send, desk.run_bot
            first = mail("Account locked", "Hi, my account is locked out after too many sign-in attempts.\n\nThanks,\nAna",
                         message_id="<m1@corp.example>")
            await asyncio.to_thread(smtp_send, first)
            await run_bot()
            [answer] = sink.mails
            assert answer["In-Reply-To"] == "<m1@corp.example>" and answer["Auto-Submitted"] == "auto-replied"
            assert answer["References"] == "<m1@corp.example>"  # the first reply to a new mail keeps its thread
            assert answer["To"] == "ana@corp.example" and answer["Subject"] == "Re: Account locked"
            body = answer.get_body(preferencelist=("plain",)).get_content()
            assert "Unlock your account" in body and "Reply YES or NO" in body

            yes = mail(f"RE: {answer['Subject']}", f"YES\n\nOn Tue, 3 Mar 2026, IT Service Desk <{SUPPORT}> wrote:\n> {body[:40]}\n",
                       message_id="<m2@corp.example>", In_Reply_To=answer["Message-ID"],
                       References=f"<m1@corp.example> {answer['Message-ID']}")
            await asyncio.to_thread(smtp_send, yes)
            await run_bot()
            assert len(sink.mails) == 2 and "glad" in sink.mails[1].get_body(preferencelist=("plain",)).get_content()
            assert sink.mails[1]["Subject"] == "Re: Account locked"  # not "Re: RE: Re: ..."
            with uow() as s:
                [ticket] = tickets.list_tickets(session=s, statuses=None)
                assert (ticket.status, ticket.resolution_code) == (Status.RESOLVED, ResolutionCode.SELF_SERVICE)

            away = mail("Automatic reply: your IT request", "I am out of the office until Monday.",
                        message_id="<m3@corp.example>", Auto_Submitted="auto-replied",
                        In_Reply_To=sink.mails[1]["Message-ID"], References=f"<m1@corp.example> {sink.mails[1]['Message-ID']}")
            await asyncio.to_thread(smtp_send, away)
            await run_bot()
            assert len(sink.mails) == 2  # no answer to an auto-reply: no mail loop

            with pytest.raises(smtplib.SMTPRecipientsRefused):
                await asyncio.to_thread(smtp_send, mail("x", "x", message_id="<m4@corp.example>"), "hr@deskbot.example")
            big = mail("logs", "x" * 300_000, message_id="<m5@corp.example>")
            with pytest.raises(smtplib.SMTPException) as refused:
                await asyncio.to_thread(smtp_send, big)
            assert "552" in str(refused.value) or "too big" in str(refused.value).lower()

    asyncio.run(scenario())


def test_the_ticket_number_in_a_subject_threads_only_the_requesters_own_mail(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer) as desk:
            sink, send = desk.sink, desk.send
            await send(mail("SAP access", "Please give me access to SAP for the new finance project.",
                            message_id="<s1@corp.example>"))
            with uow() as s:
                [ticket] = tickets.list_tickets(session=s)
                number = ticket.number
            # A new mail (fresh Message-ID, no References) naming the ticket in its subject: the same ticket.
            await send(mail(f"Re: SAP access [#{number}]", "My manager approved it this morning.",
                            message_id="<s2@corp.example>"))
            # Someone else quoting that number never joins another person's ticket.
            await send(mail(f"[#{number}] SAP", "I need SAP access too, for the audit.", message_id="<s3@corp.example>",
                            sender="bob@corp.example"))
            with uow() as s:
                found = tickets.list_tickets(session=s)
                assert len(found) == 2
                first = tickets.get_ticket(session=s, number=number)
                texts = [m.text for m in tickets.thread(session=s, ticket=first) if m.direction.value == "inbound"]
                assert texts == ["Please give me access to SAP for the new finance project.",
                                 "My manager approved it this morning."]
            bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in sink.mails]
            assert any(f"added that to ticket #{number}" in b for b in bodies), bodies
            assert [m["Subject"] for m in sink.mails] == [f"Re: SAP access [#{number}]", f"Re: SAP access [#{number}]",
                                                          f"Re: SAP [#{number + 1}]"]

            # An agent answers on the ticket: the reply goes to the requester's latest mail, with the ticket's subject.
            with uow() as s:
                people.add_user(session=s, username="amy", display_name="Amy Adams", email="amy@corp.example")
            await asyncio.to_thread(desk.pipeline.agent_reply, number=number, username="amy",
                                    text="Access granted; sign out and in again to see SAP.")
            await desk.run_bot()
            agent = sink.mails[-1]
            assert (agent["Subject"], agent["To"]) == (f"Re: SAP access [#{number}]", "ana@corp.example")
            assert agent["In-Reply-To"] == "<s2@corp.example>"
            assert re.fullmatch(r"<[0-9a-f]{32}@deskbot\.example>", agent["Message-ID"])  # nothing to guess in it
            assert "Access granted" in agent.get_body(preferencelist=("plain",)).get_content()
            with uow() as s:
                assert tickets.get_ticket(session=s, number=number).first_response_at is not None

    asyncio.run(scenario())


# --- STARTTLS and AUTH ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl for this test module."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True, timeout=60)
    return cert, key


def inbox_count(uow) -> int:  # noqa: ANN001
    with uow() as s:
        return s.scalar(select(func.count()).select_from(InboxRow))


def test_starttls_and_auth_inbound_with_a_real_smtplib_client(uow, analyzer, tls_files) -> None:  # noqa: ANN001
    cert, key = tls_files
    trusting = ssl.create_default_context(cafile=str(cert))  # the client checks the server's certificate

    setup = dict(smtp_tls_cert=cert, smtp_tls_key=key, smtp_require_starttls=True,
                 smtp_auth_users="mta:s3cret, other:pw")

    def session(port: int, *, password: str | None, starttls: bool = True) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        if starttls:
            client.starttls(context=trusting)
        if password is not None:
            client.login("mta", password)
        return client

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup=setup) as desk:
            port = desk.channel.port
            message = mail("Account locked", "Hi, my account is locked out after too many sign-in attempts.",
                           message_id="<tls1@corp.example>")

            def refused_without_tls() -> str:
                with session(port, password=None, starttls=False) as client:
                    client.ehlo()
                    assert not client.has_extn("auth")  # no AUTH offered in clear
                    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                        client.send_message(message, to_addrs=[SUPPORT])
                    return str(refused.value)

            assert "530" in await asyncio.to_thread(refused_without_tls)

            def wrong_password() -> tuple[str, str]:
                client = session(port, password=None)
                try:
                    with pytest.raises(smtplib.SMTPAuthenticationError) as denied:
                        client.login("mta", "guess")
                    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                        client.send_message(message, to_addrs=[SUPPORT])
                    return str(denied.value), str(refused.value)
                finally:
                    client.quit()

            denied, refused = await asyncio.to_thread(wrong_password)
            assert "535" in denied and "530" in refused
            assert inbox_count(uow) == 0  # nothing stored

            def good() -> None:
                with session(port, password="s3cret") as client:  # smtplib picks AUTH PLAIN
                    client.send_message(message, to_addrs=[SUPPORT])
                with session(port, password=None) as client:  # and AUTH LOGIN
                    client.ehlo()
                    client.user, client.password = "other", "pw"
                    code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
                    assert code == 235
                    client.send_message(mail("Printer", "The printer on floor 2 jams.", message_id="<tls2@corp.example>",
                                             sender="bob@corp.example"), to_addrs=[SUPPORT])

            await asyncio.to_thread(good)
            assert inbox_count(uow) == 2
            await desk.run_bot()
            answer = next(m for m in desk.sink.mails if m["To"] == "ana@corp.example")
            assert answer["In-Reply-To"] == "<tls1@corp.example>" and len(desk.sink.mails) == 2

    asyncio.run(scenario())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_in_clear_only_when_explicitly_allowed(uow, analyzer) -> None:  # noqa: ANN001
    setup = dict(smtp_auth_users="mta:s3cret", smtp_auth_allow_plaintext=True)

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup=setup) as desk:
            def unauthenticated_then_good() -> str:
                with smtplib.SMTP("127.0.0.1", desk.channel.port, timeout=30) as client:
                    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                        client.send_message(mail("VPN", "vpn down", message_id="<p1@corp.example>"), to_addrs=[SUPPORT])
                    client.login("mta", "s3cret")
                    client.send_message(mail("VPN", "vpn down", message_id="<p2@corp.example>"), to_addrs=[SUPPORT])
                    return str(refused.value)

            assert "530" in await asyncio.to_thread(unauthenticated_then_good)
            assert inbox_count(uow) == 1

    asyncio.run(scenario())


def relay_login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    ok = (auth_data.login, auth_data.password) == (b"deskbot", b"relay-pw")
    return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_replies_reach_a_relay_that_requires_tls_and_auth(uow, analyzer, tls_files, mode: str) -> None:  # noqa: ANN001
    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    if mode == "starttls":  # the relay refuses everything before STARTTLS, and AUTH before TLS
        relay_options = dict(tls_context=server_tls, require_starttls=True, authenticator=relay_login,
                             auth_required=True)
        relay_ssl, client = None, dict(smtp_relay_starttls=True, smtp_relay_ca_file=cert)
    else:  # implicit TLS (aiosmtpd cannot see it, hence auth_require_tls=False); the client is told not to verify
        relay_options = dict(authenticator=relay_login, auth_required=True, auth_require_tls=False)
        relay_ssl, client = server_tls, dict(smtp_relay_tls=True, smtp_relay_verify=False)
    password = ["relay-pw"]

    def setup() -> dict:
        return dict(smtp_relay_username="deskbot", smtp_relay_password=password[0], **client)

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup=setup(), relay_ssl=relay_ssl,
                             relay_options=relay_options) as desk:
            await desk.send(mail("Account locked", "My account is locked out after too many sign-in attempts.",
                                 message_id="<r1@corp.example>"))
            [answer] = desk.sink.mails
            assert answer["To"] == "ana@corp.example" and answer["In-Reply-To"] == "<r1@corp.example>"

        password[0] = "wrong"  # the relay says 535: the reply stays in the outbox for a retry, nothing is sent
        async with mail_desk(uow, analyzer, setup=setup(), relay_ssl=relay_ssl,
                             relay_options=relay_options) as desk:
            await desk.send(mail("VPN", "The VPN disconnects every ten minutes since this morning.",
                                 message_id="<r2@corp.example>"))
            assert desk.sink.mails == []
            with uow() as s:
                [row] = [r for r in s.scalars(select(OutboxRow)) if r.status.value != "done"]
                assert row.status.value == "pending" and "535" in row.error and "relay-pw" not in row.error

    asyncio.run(scenario())


def test_replies_share_one_relay_session_and_one_the_relay_closed_is_replaced(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer) as desk:
            for n in range(3):
                await asyncio.to_thread(desk.smtp_send, mail("Account locked", "my account is locked out",
                                                             message_id=f"<burst{n}@corp.example>"))
            await desk.run_bot()
            assert len(desk.sink.mails) == 3 and len(set(map(id, desk.sink.sessions))) == 1

            desk.sink.sessions[-1].transport.close()  # the relay ends the session (its idle timeout, a restart)
            await desk.send(mail("Account locked", "my account is locked out", message_id="<later@corp.example>"))
            assert len(desk.sink.mails) == 4 and desk.sink.sessions[-1] is not desk.sink.sessions[0]
            assert desk.sink.mails[-1]["In-Reply-To"] == "<later@corp.example>"
            with uow() as s:
                rows = s.scalars(select(OutboxRow).where(OutboxRow.channel == "email")).all()
                assert [(r.status.value, r.attempts, r.error) for r in rows] == [("done", 1, None)] * 4  # the closed session cost no retry

    asyncio.run(scenario())


def test_a_relay_without_starttls_never_gets_the_password_in_clear(uow, analyzer) -> None:  # noqa: ANN001
    """AUTH to the relay is configured (so STARTTLS is required): a relay that does not offer it, or a man in the
    middle stripping it, gets no login and no mail; the reply waits in the outbox with the reason."""
    setup = dict(smtp_relay_username="deskbot", smtp_relay_password="relay-pw", smtp_relay_starttls=True)

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup=setup) as desk:  # the sink offers no STARTTLS
            await desk.send(mail("VPN", "The VPN disconnects every ten minutes since this morning.",
                                 message_id="<t1@corp.example>"))
            assert desk.sink.mails == []
            with uow() as s:
                [row] = [r for r in s.scalars(select(OutboxRow)) if r.status.value != "done"]
                assert row.status.value == "pending" and "STARTTLS" in row.error and "relay-pw" not in row.error

    asyncio.run(scenario())


# --- attachments ---------------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "channels" / "email_fixtures"


def test_refused_and_oversized_attachments_become_a_note_and_the_mail_is_kept(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup={**COMPANY_MTA, "max_attachment_bytes": 5_000}) as desk:
            def send_raw(raw: bytes) -> None:
                with smtplib.SMTP("127.0.0.1", desk.channel.port) as client:
                    client.sendmail("carl.meyer@corp.example", [SUPPORT], raw)

            fixture = (FIXTURES / "48-attachment-executable.eml").read_bytes()
            await asyncio.to_thread(send_raw, f"Authentication-Results: {mta_verdict('carl.meyer@corp.example')}\r\n"
                                    .encode() + fixture)
            big = mail("Logs of the crash", "Outlook crashes when I open the calendar; the full log is attached.",
                       message_id="<big1@corp.example>", sender="dora@corp.example")
            big.add_attachment(b"log line\n" * 1000, maintype="text", subtype="plain", filename="outlook.log")
            await asyncio.to_thread(desk.smtp_send, big)
            await desk.run_bot()

            with uow() as s:
                assert s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status != "done")) == 0
                by_requester = {t.requester.email: t for t in tickets.list_tickets(session=s, statuses=None)}
                carl = tickets.thread(session=s, ticket=by_requester["carl.meyer@corp.example"])
                [inbound] = [m for m in carl if m.direction.value == "inbound"]
                assert "will not install on my laptop" in inbound.text
                assert [a.filename for a in inbound.attachments] == ["install-error.png"]
                assert tickets.attachment_content(session=s, attachment=inbound.attachments[0]).startswith(b"\x89PNG")
                [note] = [m.text for m in carl if m.direction.value == "note" and "not kept" in m.text]
                assert "'Invoice_Setup.pdf.exe'" in note and ".exe files are not accepted" in note
                assert "'invoice.pdf'" in note and "Windows program" in note

                dora = tickets.thread(session=s, ticket=by_requester["dora@corp.example"])
                [inbound] = [m for m in dora if m.direction.value == "inbound"]
                assert "the full log is attached" in inbound.text and inbound.attachments == []
                [note] = [m.text for m in dora if m.direction.value == "note" and "not kept" in m.text]
                assert "'outlook.log'" in note and "larger than the 5,000-byte limit" in note

            # The refused files' bytes left the stored mail at once (hex in the payload's attachments, base64 in its
            # raw MIME); the kept picture and the texts stayed.
            exe = (FIXTURES / "48-attachment-executable.eml").read_bytes()
            refused = [a.content for a in parse_mail(exe).attachments if a.filename != "install-error.png"]
            refused.append(b"log line\n" * 1000)
            with uow() as s:
                payloads = "".join(s.scalars(select(InboxRow.payload)))
            assert len(refused) == 3 and "will not install on my laptop" in payloads and "89504e47" in payloads
            for content in refused:
                assert content.hex()[:64] not in payloads and base64.b64encode(content)[:64].decode() not in payloads
            assert "'Invoice_Setup.pdf.exe' was removed by the IT service desk" in payloads

            bodies = {m["To"]: m.get_body(preferencelist=("plain",)).get_content() for m in desk.sink.mails}
            assert "could not keep your attachments: Invoice_Setup.pdf.exe" in bodies["carl.meyer@corp.example"]
            assert "could not keep your attachment: outlook.log" in bodies["dora@corp.example"]

    asyncio.run(scenario())


# --- a mail loop with an autoresponder that sets no loop headers --------------------------------------------


def test_an_autoresponder_without_loop_headers_gets_at_most_the_hourly_limit(uow, analyzer) -> None:  # noqa: ANN001
    limit = 3
    robot = "robot@vendor.example"  # not a no-reply address, no Auto-Submitted, no Precedence: it looks like a person

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup={**COMPANY_MTA, "email_replies_per_hour": limit}) as desk:
            answered = 0
            for i in range(limit + 5):
                if len(desk.sink.mails) > answered:  # it answers our latest reply, threaded, as autoresponders do
                    ours = desk.sink.mails[-1]
                    answered = len(desk.sink.mails)
                    message = mail(f"Received: {ours['Subject']}", "Thank you for your message. This is an automatic "
                                   "confirmation that we received it.", message_id=f"<auto{i}@vendor.example>",
                                   sender=robot, In_Reply_To=ours["Message-ID"], References=ours["Message-ID"])
                else:  # our replies stopped: it keeps writing anyway
                    message = mail(f"Ticket confirmation {i}", "Thank you for your message. We will get back to you.",
                                   message_id=f"<auto{i}@vendor.example>", sender=robot)
                await desk.send(message)
            assert len(desk.sink.mails) == limit
            assert all(m["To"] == robot for m in desk.sink.mails)
            with uow() as s:
                assert s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status == "done")) == limit + 5
                notes = [m.text for m in s.scalars(select(Message).where(Message.direction == Direction.NOTE))
                         if m.text.startswith("Automatic reply to robot@vendor.example not sent")]
                inbound = s.scalar(select(func.count()).select_from(Message).where(Message.direction == Direction.INBOUND))
            assert len(notes) == 5 and "the limit is 3" in notes[0]
            assert inbound == limit + 5  # every mail is stored and handled

            # An hour later the sender gets answers again.
            later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)
            await asyncio.to_thread(desk.smtp_send, mail("Hello", "Hello, are you there?", message_id="<late@vendor.example>",
                                                         sender=robot))
            assert await asyncio.to_thread(desk.pipeline.process_batch, now=later) == 1
            assert await desk.dispatcher.dispatch_once(now=later) == 1
            assert len(desk.sink.mails) == limit + 1

    asyncio.run(scenario())


# --- one sender flooding the support address ------------------------------------------------------------------


def test_one_sender_past_the_hourly_limit_is_held_without_tickets_or_notices_until_released(
        uow, analyzer, database_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    limit, excess = 5, 20
    flooder = "ana@corp.example"
    with uow() as s:  # every group hears of its new tickets by mail
        for g in people.list_groups(session=s):
            people.set_group_notifications(session=s, name=g.name, targets={"email": f"group-{g.id}@corp.example"})

    def deskbot(*args: str, returncode: int = 0) -> str:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}, "COLUMNS": "200",
               "DESKBOT_DATABASE_URL": database_url}
        done = subprocess.run([str(Path(sys.executable).with_name("deskbot")), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == returncode, done.stdout + done.stderr
        return done.stdout + done.stderr

    def flood(port: int) -> list[tuple[int, bytes]]:
        answers = []
        with smtplib.SMTP("127.0.0.1", port) as client:  # one session, as a relay delivers a queue
            client.ehlo()
            for i in range(limit + excess):
                m = mail("SAP access", "Please give me access to SAP for the finance project.",
                         message_id=f"<flood{i}@corp.example>", sender=flooder)
                client.mail(flooder)
                client.rcpt(SUPPORT)
                answers.append(client.data(m.as_string()))
        return answers

    def counts(desk: MailDesk) -> tuple[int, int, int, int]:
        to = [m["To"] for m in desk.sink.mails]
        with uow() as s:
            held = len(queue.held_inbound(session=s))
            return (len(tickets.list_tickets(session=s, statuses=None, limit=100)), to.count(flooder),
                    sum(t.startswith("group-") for t in to), held)

    async def scenario() -> None:
        setup = {**COMPANY_MTA, "email_inbound_per_hour": limit, "email_replies_per_hour": 100}
        async with mail_desk(uow, analyzer, setup=setup) as desk:
            answers = await asyncio.to_thread(flood, desk.channel.port)
            assert [code for code, _ in answers] == [250] * (limit + excess)  # nothing refused, nothing lost
            await desk.run_bot()
            # tickets, replies to the sender, notices to the groups, held mails
            assert counts(desk) == (limit, limit, limit, excess)

            listed = await asyncio.to_thread(deskbot, "inbox", "held")
            assert listed.count(flooder) == excess and "email:flood24@corp.example" in listed
            wrong = await asyncio.to_thread(deskbot, "inbox", "release", "99999", returncode=1)
            assert "no held inbox message with id 99999" in wrong and "Traceback" not in wrong
            released = await asyncio.to_thread(deskbot, "inbox", "release", "--sender", flooder)
            assert f"released {excess} message(s)" in released
            await desk.run_bot()
            assert counts(desk) == (limit + excess, limit + excess, limit + excess, 0)

    asyncio.run(scenario())


# --- the web chat's one-time codes go out through the relay ---------------------------------------------------


def test_web_chat_verification_code_arrives_at_the_relay(tls_files, engine, analyzer) -> None:  # noqa: ANN001
    import httpx

    from bot.composition import channel_states

    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        sessions: list[SMTP] = []

        def session() -> SMTP:
            sessions.append(SMTP(sink, tls_context=server_tls, require_starttls=True, authenticator=relay_login,
                                 auth_required=True))
            return sessions[-1]

        relay = await loop.create_server(session, "127.0.0.1", 0)
        settings = Settings(smtp_relay_host="127.0.0.1", smtp_relay_port=relay.sockets[0].getsockname()[1],
                            smtp_relay_starttls=True, smtp_relay_ca_file=cert, smtp_relay_username="deskbot",
                            smtp_relay_password="relay-pw", email_addresses=[SUPPORT],
                            webchat_allowed_domains=["corp.example"],
                            # the desk where the sign-in limits are counted
                            database_url=engine.url.render_as_string(hide_password=False))
        assert "one-time codes are mailed through 127.0.0.1:" in str(channel_states(settings)[0])
        app = build_service(Deskbot(settings, analyzer=analyzer)).app
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
                (await http.post("/chat/api/session")).raise_for_status()
                started = await http.post("/chat/api/verify/start", json={"email": "ana@corp.example"})
                assert started.status_code == 200, started.text
                [code_mail] = sink.mails
                assert code_mail["To"] == "ana@corp.example" and code_mail["Auto-Submitted"] == "auto-generated"
                code = code_mail["Subject"].rsplit(" ", 1)[1]
                assert code.isdigit() and len(code) == 6 and code in code_mail.get_content()
                confirmed = await http.post("/chat/api/verify/confirm", json={"code": code})
                assert confirmed.status_code == 200, confirmed.text
        finally:
            relay.close()
            for open_session in sessions:  # down, a relay also drops the session deskbot keeps open with it
                if open_session.transport is not None:
                    open_session.transport.close()

        # The relay is down: the browser hears it at once (503), no code waits anywhere.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            (await http.post("/chat/api/session")).raise_for_status()
            down = await http.post("/chat/api/verify/start", json={"email": "bob@corp.example"})
            assert down.status_code == 503 and "try again" in down.json()["error"]

    asyncio.run(scenario())


# --- identity you can trust: a From header, a ticket number or a machine header proves nothing ------------------


def plain(m: EmailMessage) -> str:
    return m.get_body(preferencelist=("plain",)).get_content()


def dsn_about(original: EmailMessage, *, message_id: str, cited: str | None = None,
              text: str = "The mail could not be delivered: mailbox unavailable.") -> bytes:
    """A delivery status notification (RFC 3464) about ``original``, as a relay's MAILER-DAEMON writes it."""
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.corp.example>\r\nTo: {SUPPORT}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: {message_id}\r\nAuto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            f"--B\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.corp.example\r\n\r\n"
            f"Final-Recipient: rfc822; {original['To']}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {cited or original['Message-ID']}\r\n"
            f"Subject: {original['Subject']}\r\n--B--\r\n").encode()


def thread_of(uow, number: int) -> list[tuple[str, str, str]]:  # noqa: ANN001
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=number)
        return [(m.direction.value, m.author_kind.value, m.text) for m in tickets.thread(session=s, ticket=ticket)]


def test_machine_mail_joins_a_ticket_only_as_a_note_about_a_mail_deskbot_sent(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer) as desk:
            await desk.send(mail("SAP access", "Please give me access to SAP for the new finance project.",
                                 message_id="<a1@corp.example>"))
            with uow() as s:
                [ticket] = tickets.list_tickets(session=s)
                number = ticket.number
                people.add_user(session=s, username="amy", display_name="Amy Adams", email="amy@corp.example")
            [ours] = desk.sink.mails
            # Anyone can write machine headers and a ticket number: none of this joins #number.
            for i, header in enumerate(({"Auto_Submitted": "auto-replied"}, {"Precedence": "bulk"},
                                        {"X_Loop": "deskbot"}, {"Return_Path": "<>"})):
                await desk.send(mail(f"Automatic reply: [#{number}]", f"Out of office {i}. Write to me instead.",
                                     message_id=f"<spoof{i}@evil.example>", sender="mallory@evil.example",
                                     verified=False, References="<a1@corp.example>", **header))
            # ... nor a forged bounce naming a Message-ID of the old, guessable kind.
            forged = dsn_about(ours, message_id="<dsn-forged@evil.example>", cited=f"<ticket-{number}.0@deskbot.example>",
                               text="Forged bounce: reply to mallory@evil.example instead.")
            await asyncio.to_thread(_send_raw(desk), forged)
            # The requester's real out-of-office and a real bounce, both about our answer: notes on her ticket.
            await desk.send(mail("Automatic reply: Re: SAP access", "I am away until Monday.", message_id="<a2@corp.example>",
                                 Auto_Submitted="auto-replied", In_Reply_To=ours["Message-ID"],
                                 References=f"<a1@corp.example> {ours['Message-ID']}"))
            await asyncio.to_thread(_send_raw(desk), dsn_about(ours, message_id="<dsn-1@mx.corp.example>"))
            await desk.run_bot()
            assert len(desk.sink.mails) == 1  # no machine is ever answered

            thread = thread_of(uow, number)
            assert not [t for t in thread if "Write to me instead" in t[2] or "Forged bounce" in t[2]]
            notes = [text for direction, author, text in thread if (direction, author) == ("note", "system")]
            assert any("away until Monday" in n for n in notes) and any("mailbox unavailable" in n for n in notes)
            assert [text for direction, author, text in thread if author == "requester"] == [
                "Please give me access to SAP for the new finance project."]

            # An agent's answer goes to the requester's own conversation, not to whoever wrote last.
            await asyncio.to_thread(desk.pipeline.agent_reply, number=number, username="amy", text="Access granted.")
            await desk.run_bot()
            answer = desk.sink.mails[-1]
            assert (answer["To"], answer["In-Reply-To"]) == ("ana@corp.example", "<a1@corp.example>")

    asyncio.run(scenario())


def _send_raw(desk: MailDesk, sender: str = "") -> Callable[[bytes], None]:
    def send(raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", desk.channel.port) as client:
            client.sendmail(sender, [SUPPORT], raw)
    return send


def test_a_from_header_is_nobody_until_the_company_mta_vouches_for_it(uow, analyzer) -> None:  # noqa: ANN001
    ceo = "ceo@corp.example"

    def status_question(message_id: str, **options: object) -> EmailMessage:
        return mail("Tickets", "What is the status of my open tickets?", message_id=message_id, sender=ceo, **options)

    async def scenario() -> None:
        async with mail_desk(uow, analyzer) as desk:
            await desk.send(mail("Laptop screen", "The screen of my laptop is cracked and flickers.", sender=ceo,
                                 message_id="<c1@corp.example>"))
            with uow() as s:
                [ticket] = tickets.list_tickets(session=s)
                number, subject, owner = ticket.number, ticket.subject, ticket.requester_id
            spoofs = [
                status_question("<x1@evil.example>", verified=False),  # no verdict at all
                status_question("<x2@evil.example>", verified=False,  # a verdict from someone else's server
                                Authentication_Results=mta_verdict(ceo, authserv_id="mx.evil.example")),
                status_question("<x3@evil.example>", Sender="mallory@corp.example"),  # Sender is not From
            ]
            two_froms = status_question("<x4@evil.example>")
            two_froms.replace_header("From", f"{ceo}, mallory@evil.example")
            spoofs.append(two_froms)
            # The sender's own "dmarc=pass" under the MTA's real "fail": only the topmost verdict counts.
            below = status_question("<x5@evil.example>", verified=False)
            below["Authentication-Results"] = mta_verdict(ceo)
            below_raw = f"Authentication-Results: {mta_verdict(ceo, dmarc='fail')}\r\n".encode() + below.as_bytes()
            for spoof in spoofs:
                await desk.send(spoof)
            await asyncio.to_thread(_send_raw(desk, ceo), below_raw)
            works = mail(f"Re: Laptop screen [#{number}]", "It works now, thanks.", message_id="<x6@evil.example>",
                         sender=ceo, verified=False)
            await desk.send(works)

            replies = desk.sink.mails[1:]
            assert len(replies) == len(spoofs) + 2
            assert not [r for r in replies if subject in plain(r)], "a spoofed From read the CEO's tickets"
            with uow() as s:
                ticket = tickets.get_ticket(session=s, number=number)
                assert ticket.status is not Status.RESOLVED  # "works now" from a stranger closes nothing
                assert [t.number for t in tickets.open_tickets_of(session=s, requester_id=owner)] == [number]
                assert all(t.requester_id != owner for t in tickets.list_tickets(session=s, statuses=None)
                           if t.number != number)
            assert [text for _, author, text in thread_of(uow, number) if author == "requester"] == [
                "The screen of my laptop is cracked and flickers."]

            # The CEO's own mail, vouched for by the company's MTA, sees the ticket.
            await desk.send(status_question("<c2@corp.example>"))
            assert subject in plain(desk.sink.mails[-1])

    asyncio.run(scenario())


def test_without_verification_a_reply_threads_by_our_message_id_and_a_bare_ticket_number_does_not(
        uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        # the embedded default: DESKBOT_EMAIL_VERIFICATION=off
        async with mail_desk(uow, analyzer, setup={}) as desk:
            await desk.send(mail("SAP access", "Please give me access to SAP for the new finance project.",
                                 message_id="<u1@corp.example>"))
            with uow() as s:
                [ticket] = tickets.list_tickets(session=s)
                number = ticket.number
            [ours] = desk.sink.mails
            # Citing the Message-ID we sent proves the sender received our mail: it threads.
            await desk.send(mail(f"Re: {ours['Subject']}", "My manager approved it this morning.",
                                 message_id="<u2@corp.example>", In_Reply_To=ours["Message-ID"],
                                 References=f"<u1@corp.example> {ours['Message-ID']}"))
            assert f"added that to ticket #{number}" in plain(desk.sink.mails[-1])
            # The same address with only the number, or only the requester's own Message-ID: a ticket of its own.
            await desk.send(mail(f"Re: SAP access [#{number}]", "Also add me to the SAP audit role.",
                                 message_id="<u3@corp.example>"))
            await desk.send(mail("Re: SAP access", "And the SAP reporting role too.", message_id="<u4@corp.example>",
                                 In_Reply_To="<u1@corp.example>", References="<u1@corp.example>"))
            with uow() as s:
                found = tickets.list_tickets(session=s)
                assert len(found) == 3
                first = tickets.get_ticket(session=s, number=number)
                assert [m.text for m in tickets.thread(session=s, ticket=first) if m.direction is Direction.INBOUND] == [
                    "Please give me access to SAP for the new finance project.", "My manager approved it this morning."]
                # Unverified, each conversation is its own requester: nobody reads another thread's tickets.
                assert len({t.requester_id for t in found}) == 3 and all(t.requester.email is None for t in found)

    asyncio.run(scenario())


def test_with_trusted_relays_only_they_and_auth_users_may_hand_mail_over(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer, setup=dict(smtp_trusted_relays=["10.20.0.0/16"])) as desk:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                await asyncio.to_thread(desk.smtp_send, mail("Hi", "Hello", message_id="<r1@corp.example>"))
            assert "not a trusted relay" in str(refused.value)
            assert inbox_count(uow) == 0

    asyncio.run(scenario())
