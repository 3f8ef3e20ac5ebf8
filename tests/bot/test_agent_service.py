"""The agent service layer on a real desk (SQLite and PostgreSQL): what the CLI, Slack and the API all call."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import agents
from bot.conversation import Reply
from desk import AuthorKind, DeskError, Direction, Priority, ResolutionCode, Status, conversations, people, queue, tickets
from desk.domain import Level
from desk.models import OutboxRow

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def _mail_ticket(session, address: str, thread: str, subject: str) -> int:  # noqa: ANN001
    """A ticket opened from a requester's mail conversation, as the bot opens them."""
    requester = people.resolve_requester(session=session, channel="email", external_id=address, email=address,
                                         email_verified=True)
    conversation = conversations.get_or_create(session=session, channel="email", address=address, thread=thread,
                                               requester_id=requester.id)
    ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject=subject, description=subject,
                                 channel="email", actor="bot", intent="software_access", impact=Level.LOW, now=NOW)
    conversations.attach_ticket(session=session, conversation=conversation, ticket=ticket)
    tickets.add_message(session=session, idempotency_key=f"email:{thread}", ticket=ticket, conversation=conversation,
                        direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, channel="email", text=subject,
                        now=NOW)
    return ticket.number


@pytest.fixture
def amy(uow):  # noqa: ANN001, ANN201
    with uow() as s:
        people.add_user(session=s, username="amy", display_name="Amy Adams", email="amy@corp.example",
                        groups=["Identity & Access"])
    return "amy"


def test_merge_moves_the_conversation_and_resolves_the_duplicate(uow, amy) -> None:  # noqa: ANN001
    with uow() as s:
        first = _mail_ticket(s, "bob@corp.example", "b1@corp.example", "SAP access")
        second = _mail_ticket(s, "bob@corp.example", "b2@corp.example", "SAP access, again")
    with uow() as s:
        by = agents.Actor.of(people.get_user(session=s, username=amy))
        agents.merge(session=s, number=second, into=first, by=by, now=NOW)
    with uow() as s:
        target, duplicate = tickets.get_ticket(session=s, number=first), tickets.get_ticket(session=s, number=second)
        assert [m.text for m in tickets.thread(session=s, ticket=target)] == ["SAP access", "SAP access, again"]
        assert tickets.thread(session=s, ticket=duplicate) == []
        assert (duplicate.status, duplicate.resolution_code) == (Status.RESOLVED, ResolutionCode.DUPLICATE)
        assert conversations.find(session=s, channel="email", address="bob@corp.example",
                                  thread="b2@corp.example").ticket_id == target.id
        audit = [(a.actor, a.field) for a in tickets.audit_trail(session=s, ticket=duplicate)]
        assert ("user:amy", "merged_into") in audit and ("user:amy", "resolution_code") in audit
        with pytest.raises(DeskError, match="resolved already"):
            agents.merge(session=s, number=second, into=first, by=agents.Actor("cli:root"), now=NOW)


def test_reply_note_priority_intent_and_csat_each_in_the_audit(uow, amy) -> None:  # noqa: ANN001
    with uow() as s:
        number = _mail_ticket(s, "ana@corp.example", "a1@corp.example", "SAP access")
    with uow() as s:
        by = agents.Actor.of(people.get_user(session=s, username=amy))
        row = agents.reply(session=s, number=number, by=by, text="Access granted.", now=NOW)
        agents.note(session=s, number=number, by=by, text="licence from the SAP team", now=NOW)
        agents.set_priority(session=s, number=number, by=by, priority=Priority.P2, now=NOW)
        agents.confirm_intent(session=s, number=number, by=by, intent="software_access",
                              known=frozenset({"software_access"}), now=NOW)
        with pytest.raises(DeskError, match="unknown intent"):
            agents.confirm_intent(session=s, number=number, by=by, intent="coffee", known=frozenset({"x"}), now=NOW)
        with pytest.raises(DeskError, match="not resolved yet"):
            agents.record_csat(session=s, number=number, score=5, by=by, now=NOW)
        agents.set_status(session=s, number=number, by=by, status=Status.RESOLVED, now=NOW)
        agents.record_csat(session=s, number=number, score=4, by=agents.Actor("requester"), now=NOW)
        row_id = row.id
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=number)
        sent = s.get(OutboxRow, row_id)
        assert (sent.channel, sent.address, sent.thread) == ("email", "ana@corp.example", "a1@corp.example")
        assert Reply.from_json(sent.payload).text == "Amy Adams (IT service desk): Access granted."
        assert queue.failed_outbound(session=s) == []
        assert s.query(OutboxRow).count() == 1  # the note never goes to the requester
        assert ticket.priority is Priority.P2 and ticket.first_response_at == NOW and ticket.csat_score == 4
        fields = {a.field: a.actor for a in tickets.audit_trail(session=s, ticket=ticket)}
        assert fields["priority"] == fields["confirmed_intent"] == fields["status"] == "user:amy"
        assert fields["csat_score"] == "requester"
        assert ("SAP access", "software_access") in tickets.confirmed_intent_examples(session=s)


def test_only_a_desk_user_answers_the_requester(uow) -> None:  # noqa: ANN001
    with uow() as s:
        number = _mail_ticket(s, "ana@corp.example", "a1@corp.example", "SAP access")
        with pytest.raises(DeskError, match="only a desk user can answer the requester"):
            agents.reply(session=s, number=number, by=agents.Actor("cli:root"), text="hi", now=NOW)
        with pytest.raises(DeskError, match="empty"):
            agents.reply(session=s, number=number, by=agents.Actor("cli:root"), text="  ", now=NOW)
