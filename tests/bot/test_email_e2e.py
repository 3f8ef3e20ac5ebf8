"""Email end to end: smtplib -> the real aiosmtpd server -> the bot -> replies through a relay
that is a second aiosmtpd server on loopback (the sink). SQLite and PostgreSQL, the real model."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from email import message_from_bytes, policy
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP

from bot.dispatcher import Dispatcher
from bot.notify import LogNotifier
from bot.pipeline import BotSettings, Pipeline
from channels.email import EmailChannel
from desk import ResolutionCode, Status, tickets

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
async def mail_desk(uow, analyzer) -> AsyncIterator[MailDesk]:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    sink = Sink()
    relay = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    channel = EmailChannel(host="127.0.0.1", port=0, addresses=(SUPPORT,), max_bytes=200_000,
                           relay_host="127.0.0.1", relay_port=relay.sockets[0].getsockname()[1])
    pipeline = Pipeline(uow=uow, analyzer=analyzer, notifier=LogNotifier(), settings=BotSettings(), worker="w")
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
            assert answer["To"] == "ana@corp.example"
            body = answer.get_body(preferencelist=("plain",)).get_content()
            assert "Unlock your account" in body and "Reply YES or NO" in body

            yes = mail("Re: your IT request", f"YES\n\nOn Tue, 3 Mar 2026, IT Service Desk <{SUPPORT}> wrote:\n> {body[:40]}\n",
                       message_id="<m2@corp.example>", In_Reply_To=answer["Message-ID"],
                       References=f"<m1@corp.example> {answer['Message-ID']}")
            await asyncio.to_thread(smtp_send, yes)
            await run_bot()
            assert len(sink.mails) == 2 and "glad" in sink.mails[1].get_body(preferencelist=("plain",)).get_content()
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

    asyncio.run(scenario())
