"""Email end to end: smtplib -> the real aiosmtpd server -> the bot -> replies through a relay
that is a second aiosmtpd server on loopback (the sink). SQLite and PostgreSQL, the real model."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import smtplib
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult
from sqlalchemy import func, select

from bot.dispatcher import Dispatcher
from bot.notify import LogNotifier
from bot.pipeline import BotSettings, Pipeline
from channels.email import EmailChannel
from bot.composition import Deskbot
from bot.settings import Settings
from desk import Direction, ResolutionCode, Status, people, tickets
from desk.models import InboxRow, Message, OutboxRow

SUPPORT = "support@deskbot.example"


class Sink:
    """The company's relay: keeps what deskbot sends out."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.mails.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def mail(subject: str, body: str, *, message_id: str, sender: str = "ana@corp.example", **headers: str) -> EmailMessage:
    m = EmailMessage()
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


@contextlib.asynccontextmanager
async def mail_desk(uow, analyzer, *, make_channel: Callable[[int], EmailChannel] | None = None,  # noqa: ANN001
                    bot_settings: BotSettings | None = None, relay_ssl: ssl.SSLContext | None = None,
                    relay_options: dict | None = None) -> AsyncIterator[MailDesk]:
    """``make_channel(relay_port)`` builds the channel under test; the sink is the relay (``relay_options`` for its SMTP)."""
    loop = asyncio.get_running_loop()
    sink = Sink()
    relay = await loop.create_server(lambda: SMTP(sink, **(relay_options or {})), "127.0.0.1", 0, ssl=relay_ssl)
    relay_port = relay.sockets[0].getsockname()[1]
    channel = make_channel(relay_port) if make_channel else EmailChannel(
        host="127.0.0.1", port=0, addresses=(SUPPORT,), max_bytes=200_000, relay_host="127.0.0.1", relay_port=relay_port)
    pipeline = Pipeline(uow=uow, analyzer=analyzer, notifier=LogNotifier(), settings=bot_settings or BotSettings(),
                        worker="w")
    await channel.start(pipeline.receive)
    try:
        yield MailDesk(channel, pipeline, Dispatcher(uow=uow, channels={"email": channel}, worker="d"), sink)
    finally:
        await channel.stop()
        relay.close()


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
            assert agent["In-Reply-To"] == "<s2@corp.example>" and agent["Message-ID"].startswith(f"<ticket-{number}.")
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

    def make_channel(relay_port: int) -> EmailChannel:  # the composition root builds it from settings
        settings = Settings(smtp_host="127.0.0.1", smtp_port=0, email_addresses=[SUPPORT], smtp_tls_cert=cert,
                            smtp_tls_key=key, smtp_require_starttls=True, smtp_auth_users="mta:s3cret, other:pw",
                            smtp_relay_host="127.0.0.1", smtp_relay_port=relay_port)
        return Deskbot(settings).email()

    def session(port: int, *, password: str | None, starttls: bool = True) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        if starttls:
            client.starttls(context=trusting)
        if password is not None:
            client.login("mta", password)
        return client

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, make_channel=make_channel) as desk:
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
    def make_channel(relay_port: int) -> EmailChannel:
        settings = Settings(smtp_host="127.0.0.1", smtp_port=0, email_addresses=[SUPPORT], smtp_auth_users="mta:s3cret",
                            smtp_auth_allow_plaintext=True, smtp_relay_host="127.0.0.1", smtp_relay_port=relay_port)
        return Deskbot(settings).email()

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, make_channel=make_channel) as desk:
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

    def make_channel(relay_port: int) -> EmailChannel:
        settings = Settings(smtp_host="127.0.0.1", smtp_port=0, email_addresses=[SUPPORT], smtp_relay_host="127.0.0.1",
                            smtp_relay_port=relay_port, smtp_relay_username="deskbot",
                            smtp_relay_password=password[0], **client)
        return Deskbot(settings).email()

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, make_channel=make_channel, relay_ssl=relay_ssl,
                             relay_options=relay_options) as desk:
            await desk.send(mail("Account locked", "My account is locked out after too many sign-in attempts.",
                                 message_id="<r1@corp.example>"))
            [answer] = desk.sink.mails
            assert answer["To"] == "ana@corp.example" and answer["In-Reply-To"] == "<r1@corp.example>"

        password[0] = "wrong"  # the relay says 535: the reply stays in the outbox for a retry, nothing is sent
        async with mail_desk(uow, analyzer, make_channel=make_channel, relay_ssl=relay_ssl,
                             relay_options=relay_options) as desk:
            await desk.send(mail("VPN", "The VPN disconnects every ten minutes since this morning.",
                                 message_id="<r2@corp.example>"))
            assert desk.sink.mails == []
            with uow() as s:
                [row] = [r for r in s.scalars(select(OutboxRow)) if r.status.value != "done"]
                assert row.status.value == "pending" and "535" in row.error and "relay-pw" not in row.error

    asyncio.run(scenario())


# --- attachments ---------------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "channels" / "email_fixtures"


def test_refused_and_oversized_attachments_become_a_note_and_the_mail_is_kept(uow, analyzer) -> None:  # noqa: ANN001
    async def scenario() -> None:
        async with mail_desk(uow, analyzer, bot_settings=BotSettings(max_attachment_bytes=5_000)) as desk:
            def send_raw(raw: bytes) -> None:
                with smtplib.SMTP("127.0.0.1", desk.channel.port) as client:
                    client.sendmail("carl.meyer@corp.example", [SUPPORT], raw)

            await asyncio.to_thread(send_raw, (FIXTURES / "48-attachment-executable.eml").read_bytes())
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

            bodies = {m["To"]: m.get_body(preferencelist=("plain",)).get_content() for m in desk.sink.mails}
            assert "could not keep your attachments: Invoice_Setup.pdf.exe" in bodies["carl.meyer@corp.example"]
            assert "could not keep your attachment: outlook.log" in bodies["dora@corp.example"]

    asyncio.run(scenario())


# --- a mail loop with an autoresponder that sets no loop headers --------------------------------------------


def test_an_autoresponder_without_loop_headers_gets_at_most_the_hourly_limit(uow, analyzer) -> None:  # noqa: ANN001
    limit = 3
    robot = "robot@vendor.example"  # not a no-reply address, no Auto-Submitted, no Precedence: it looks like a person

    async def scenario() -> None:
        async with mail_desk(uow, analyzer, bot_settings=BotSettings(replies_per_hour={"email": limit})) as desk:
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


# --- the web chat's one-time codes go out through the relay ---------------------------------------------------


def test_web_chat_verification_code_arrives_at_the_relay(tls_files, engine) -> None:  # noqa: ANN001
    import httpx
    from fastapi import FastAPI

    from bot.composition import channel_states

    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        relay = await loop.create_server(lambda: SMTP(sink, tls_context=server_tls, require_starttls=True,
                                                      authenticator=relay_login, auth_required=True), "127.0.0.1", 0)
        settings = Settings(smtp_relay_host="127.0.0.1", smtp_relay_port=relay.sockets[0].getsockname()[1],
                            smtp_relay_starttls=True, smtp_relay_ca_file=cert, smtp_relay_username="deskbot",
                            smtp_relay_password="relay-pw", email_addresses=[SUPPORT],
                            webchat_allowed_domains=["corp.example"],
                            # the desk where the sign-in limits are counted
                            database_url=engine.url.render_as_string(hide_password=False))
        assert "one-time codes are mailed through 127.0.0.1:" in str(channel_states(settings)[0])
        app = FastAPI()
        app.include_router(Deskbot(settings).webchat().router())
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

        # The relay is down: the browser hears it at once (503), no code waits anywhere.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            (await http.post("/chat/api/session")).raise_for_status()
            down = await http.post("/chat/api/verify/start", json={"email": "bob@corp.example"})
            assert down.status_code == 503 and "try again" in down.json()["error"]

    asyncio.run(scenario())
