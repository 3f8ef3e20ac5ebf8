"""Agents' actions, group notices and Slack-shaped messages below the channels: inbox -> pipeline -> desk
-> outbox -> dispatcher, with channels that record what they were given. SQLite and PostgreSQL, the plumbing NLP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid

import pytest

from bot.conversation import AgentAction, ConversationRef, Identity, InboundMessage, Reply
from bot.dispatcher import Dispatcher
from bot.notify import GroupNotifier, LogNotifier, Notifiers
from bot.notices import GroupNotices
from bot.rich_text import to_plain
from bot.worker import BotSettings, Pipeline
from desk import Direction, Status, people, tickets
from desk.models import AgentThread

NOW = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)  # a Tuesday morning
_ts = itertools.count(1_700_000_000)


class Recorder:
    """A channel that keeps what it is given and, like Slack, answers with a message id."""

    def __init__(self, name: str):
        self.name, self.sent = name, []

    async def start(self, on_message) -> None: ...  # noqa: ANN001

    async def send(self, ref: ConversationRef, reply: Reply) -> str:
        self.sent.append((ref, reply))
        return f"{next(_ts)}.000100"

    async def stop(self) -> None: ...

    def to(self, address: str, thread: str | None = None) -> list[Reply]:
        return [r for ref, r in self.sent if ref.address == address and (thread is None or ref.thread == thread)]


def slack_user(user: str, email: str | None) -> Identity:
    return Identity("slack", user, user.title(), email, email_verified=email is not None)


@pytest.fixture
def bot(uow, analyzer):  # noqa: ANN001, ANN201
    with uow() as s:
        people.set_group_notifications(session=s, name="Service Desk", targets={"slack": "CSD", "email": "sd@corp.example"})
        people.set_group_notifications(session=s, name="Identity & Access", targets={"slack": "CIA"})
        people.add_user(session=s, username="amy", display_name="Amy Adams", email="amy@corp.example",
                        groups=["Identity & Access"])
    notifier = Notifiers([LogNotifier(), GroupNotifier(channels={"slack", "email", "webchat"})])
    pipeline = Pipeline(uow=uow.publishing(GroupNotices(notifier, kb_url=BotSettings.defaults().kb_url)), analyzer=analyzer,
                        settings=BotSettings.defaults(), worker="w")
    channels = {name: Recorder(name) for name in ("slack", "email", "webchat")}
    dispatcher = Dispatcher(uow=uow, channels=channels, worker="d", settings=BotSettings.defaults())

    def say(text: str = "", *, sender: Identity, ref: ConversationRef, key: str | None = None, **extra) -> None:  # noqa: ANN003
        pipeline.accept(InboundMessage(key=key or f"{ref.channel}:{uuid.uuid4()}", conversation=ref, sender=sender,
                                       text=text, received_at=NOW, **extra))
        while pipeline.process_batch(now=NOW):
            pass
        while asyncio.run(dispatcher.dispatch_once(now=NOW)):
            pass

    return pipeline, say, channels


ANA_WEB = ConversationRef("webchat", "webchat:ana", "t1")
ANA = Identity("webchat", "webchat:ana", "Ana", "ana@corp.example", email_verified=True)


def _post_ts(uow, number: int) -> str:  # noqa: ANN001
    from sqlalchemy import select

    with uow() as s:
        t = tickets.get_ticket(session=s, number=number)
        return s.scalar(select(AgentThread.thread).where(AgentThread.ticket_id == t.id))


def test_a_new_ticket_goes_to_the_groups_slack_channel_and_address_and_sla_goes_into_its_thread(uow, bot) -> None:  # noqa: ANN001
    pipeline, say, ch = bot
    say("I'd like to talk to a human please", sender=ANA, ref=ANA_WEB)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number, group = ticket.number, ticket.group.name
    assert group == "Service Desk"
    [post] = ch["slack"].to("CSD", "")
    [mail] = ch["email"].to("sd@corp.example")
    assert f"#{number}" in post.text and [b.label for b in post.buttons][0] == "Assign to me"
    # The notice is Markdown like every reply; the mail's plain part shows none of its markup.
    assert f"#{number}" in mail.text and not mail.buttons and "*" not in to_plain(mail.text)
    assert "intent human_agent" in to_plain(mail.text)
    ts = _post_ts(uow, number)
    assert ts  # the dispatcher learnt the post's id
    with uow() as s:
        t = tickets.get_ticket(session=s, number=number)
        t.first_response_warn_at = NOW - dt.timedelta(minutes=1)
    assert pipeline.scan_sla(now=NOW) == 1
    dispatcher = Dispatcher(uow=uow, channels=ch, worker="d2", settings=BotSettings.defaults())
    while asyncio.run(dispatcher.dispatch_once(now=NOW)):
        pass
    [warning] = ch["slack"].to("CSD", ts)
    assert "at risk" in warning.text and f"#{number}" in warning.text
    assert any("at risk" in r.text for r in ch["email"].to("sd@corp.example"))


def test_send_article_offers_it_to_the_requester_and_yes_resolves(uow, bot) -> None:  # noqa: ANN001
    _, say, ch = bot
    say("Could I get access to the Marketing shared drive please?", sender=ANA, ref=ANA_WEB)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number = ticket.number
    ts = _post_ts(uow, number)
    amy = slack_user("UAMY", "amy@corp.example")
    say("Send", sender=amy, ref=ConversationRef("slack", "CIA", ts),
        agent=AgentAction("send_article", number, "KB-0001"))
    offered = ch["webchat"].to("webchat:ana")[-1]
    assert "Amy Adams (IT service desk) suggests" in offered.text and [b.value for b in offered.buttons] == ["yes", "no"]
    assert any("Sent to the requester (webchat)" in r.text for r in ch["slack"].to("CIA", ts))
    say("", sender=ANA, ref=ANA_WEB, action="yes")
    with uow() as s:
        assert tickets.get_ticket(session=s, number=number).status is Status.RESOLVED


def test_messages_in_a_ticket_thread_from_non_agents_are_notes_and_unknown_threads_are_dropped(uow, bot) -> None:  # noqa: ANN001
    _, say, ch = bot
    say("Could I get access to the Finance shared drive please?", sender=ANA, ref=ANA_WEB)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number = ticket.number
    ts = _post_ts(uow, number)
    eve = slack_user("UEVE", "eve@corp.example")  # not a desk user
    say("!reply I think it's done?", sender=eve, ref=ConversationRef("slack", "CIA", ts), overheard=True)
    say("just chatting", sender=eve, ref=ConversationRef("slack", "CIA", "999.000"), overheard=True)
    before = len(ch["webchat"].sent)
    with uow() as s:
        thread = tickets.thread(session=s, ticket=tickets.get_ticket(session=s, number=number))
        assert [m.text for m in thread if m.direction is Direction.NOTE and "(not a desk agent)" in m.text] == []
        assert len(ch["webchat"].sent) == before
    assert any("Only desk agents" in r.text for r in ch["slack"].to("CIA", ts))  # a reply needs an agent
    say("I looked at the share, it has the wrong owner", sender=eve, ref=ConversationRef("slack", "CIA", ts),
        overheard=True)
    with uow() as s:
        thread = tickets.thread(session=s, ticket=tickets.get_ticket(session=s, number=number))
        notes = [m.text for m in thread if m.direction is Direction.NOTE and "(not a desk agent)" in m.text]
        assert notes == ["Ueve (not a desk agent): I looked at the share, it has the wrong owner"]
        assert not [m for m in tickets.thread(session=s, ticket=tickets.get_ticket(session=s, number=number))
                    if "just chatting" in m.text]
    assert len(ch["webchat"].sent) == before  # nothing reached the requester


def test_a_mention_thread_takes_the_requesters_follow_ups_but_not_a_colleagues(uow, bot) -> None:  # noqa: ANN001
    _, say, ch = bot
    ana = slack_user("U42", "ana@corp.example")
    thread = ConversationRef("slack", "CGEN", "1700000001.000100")
    say("The printer on the second floor keeps jamming", sender=ana, ref=thread)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s, statuses=None)
        number = ticket.number
    answered = len(ch["slack"].to("CGEN", thread.thread))
    assert answered >= 1
    zed = slack_user("U77", "zed@corp.example")
    say("same here lol", sender=zed, ref=thread, overheard=True)
    say("", sender=zed, ref=thread, action="yes")  # a colleague's click on Ana's "Yes, solved" is not hers
    assert len(ch["slack"].to("CGEN", thread.thread)) == answered
    with uow() as s:
        assert tickets.get_ticket(session=s, number=number).status.is_active
    say("it is the tray 2 that jams, the error says E-204", sender=ana, ref=thread, overheard=True)
    assert len(ch["slack"].to("CGEN", thread.thread)) == answered + 1
    with uow() as s:
        texts = [m.text for m in tickets.thread(session=s, ticket=tickets.get_ticket(session=s, number=number))
                 if m.direction is Direction.INBOUND]
        assert "same here lol" not in texts and any("E-204" in t for t in texts)


def test_the_shortcut_opens_a_ticket_at_once_and_the_home_tab_lists_open_tickets(uow, bot) -> None:  # noqa: ANN001
    _, say, ch = bot
    ana = slack_user("U42", "ana@corp.example")
    say("I forgot my password", sender=ana, ref=ConversationRef("slack", "U42", ""), action="open_ticket")
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        assert ticket.status in (Status.NEW, Status.OPEN) and ticket.resolution_code is None
        ref = ticket.ref
    [reply] = ch["slack"].to("U42", "")
    assert ref in reply.text and not reply.buttons  # a ticket, not a KB answer
    say("", sender=ana, ref=ConversationRef("slack", "U42", "home"), action="home")
    [home] = ch["slack"].to("U42", "home")
    assert ref in home.text and "SLA" in home.text
    with uow() as s:  # the App Home is a view, not a message on the ticket
        assert len([m for m in tickets.thread(session=s, ticket=tickets.get_ticket(session=s, number=int(ref[1:])))
                    if m.direction is Direction.INBOUND]) == 1


def test_the_dispatcher_waits_out_slacks_retry_after(uow, fake_slack) -> None:  # noqa: ANN001
    from channels.slack import SlackChannel
    from desk import queue
    from desk.models import OutboxRow

    slack = SlackChannel(bot_token="xoxb-t", signing_secret="s", api_url=fake_slack.url)
    with uow() as s:
        queue.enqueue_outbound(session=s, key="r1", channel="slack", address="U42", thread="",
                               payload=Reply("hello").to_json(), now=NOW)
    fake_slack.rate_limit["chat.postMessage"] = 1  # Retry-After: 7
    dispatcher = Dispatcher(uow=uow, channels={"slack": slack}, worker="d", settings=BotSettings.defaults())
    assert asyncio.run(dispatcher.dispatch_once(now=NOW)) == 1
    with uow() as s:
        [row] = s.query(OutboxRow).all()
        assert row.status.value == "pending" and row.available_at == NOW + dt.timedelta(seconds=7)
        assert "429" in row.error
    assert asyncio.run(dispatcher.dispatch_once(now=NOW + dt.timedelta(seconds=6))) == 0  # not before
    assert asyncio.run(dispatcher.dispatch_once(now=NOW + dt.timedelta(seconds=7))) == 1
    with uow() as s:
        [row] = s.query(OutboxRow).all()
        assert row.status.value == "done" and row.native_id
    assert [p["text"] for p in fake_slack.posted()] == ["hello"]
