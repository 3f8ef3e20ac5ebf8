"""The agent service layer: every agent and admin action on a ticket, as one plain function each.

The command line, Slack's agent view and (next) the REST API and the console all call these; none of them
needs an ``InboundMessage``. Each takes the unit of work's session and the acting desk user, changes the desk
only through desk functions (so the audit trail names that user for every change), and queues whatever the
requester must hear through the outbox, on the requester's own channel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Protocol

from bot.conversation import ArticleLink, Button, ConversationRef, Reply
from desk import (AuthorKind, Direction, DuplicateKey, Priority, ResolutionCode, Status, conversations, queue, relations,
                  ticket_queries, tickets)
from desk.domain import DeskError, NotFound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desk.models import Conversation, Message, OutboxRow, Ticket, User


class Article(Protocol):
    """What an answer needs of a KB article (the NLP's KB articles have it)."""

    id: str
    title: str
    steps: str


@dataclass(frozen=True)
class Actor:
    """Who acts: a desk user (an agent or admin, signed in or named with ``--as``), or the operator of the command
    line; ``name`` is how the audit trail records them."""

    name: str
    user: User | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(f"user:{user.username}", user)

    def needs_user(self, what: str) -> User:
        if self.user is None:
            raise DeskError(f"only a desk user can {what} (name one with --as)")
        return self.user


def signed(agent: User, text: str) -> str:
    """What the requester reads: who answered, then the answer."""
    return f"{agent.display_name} (IT service desk): {text}"


def requester_ref(*, session: Session, ticket: Ticket) -> tuple[Conversation | None, ConversationRef] | None:
    """Where an answer to the requester goes: their latest conversation on the ticket, else (a ticket opened by an
    agent after a phone call) their verified email address; None when neither exists."""
    conversation = conversations.latest_for_ticket(session=session, ticket=ticket)
    if conversation is not None:
        return conversation, ConversationRef(conversation.channel, conversation.address, conversation.thread)
    if ticket.requester.email:
        return None, ConversationRef("email", ticket.requester.email, "")
    return None


def assign(*, session: Session, number: int, by: Actor, to: str | None = None, now: dt.datetime) -> Ticket:
    """``to`` (a username), or the acting user themself when ``to`` is None."""
    username = to or by.needs_user("take a ticket").username
    return tickets.assign(session=session, number=number, username=username, actor=by.name, now=now)


def assign_to_group(*, session: Session, number: int, by: Actor, now: dt.datetime) -> Ticket:
    """To the least-loaded available agent of the ticket's group."""
    return tickets.assign(session=session, number=number, username=None, actor=by.name, now=now)


def reply(*, session: Session, number: int, by: Actor, text: str, now: dt.datetime,
          key: str | None = None) -> OutboxRow | None:
    """The agent's answer to the requester, signed, on the requester's own channel with the ticket's subject; it is
    the first response for the SLA and moves a new ticket to open. ``key`` makes a redelivered action a no-op
    (None when it was done before); without one every call is a new answer."""
    text = text.strip()
    if not text:
        raise DeskError("nothing to send: the reply is empty")
    agent = by.needs_user("answer the requester")
    ticket = tickets.get_ticket(session=session, number=number)
    return _to_requester(session=session, ticket=ticket, agent=agent, record=text, now=now, key=key,
                         reply=Reply(signed(agent, text), ticket_ref=ticket.ref))


def send_article(*, session: Session, number: int, by: Actor, article: Article, url: str, now: dt.datetime,
                 key: str | None = None) -> OutboxRow | None:
    """The article's steps and link to the requester, asking "did this solve it?" (their yes resolves it)."""
    agent = by.needs_user("send an article")
    ticket = tickets.get_ticket(session=session, number=number)
    answer = Reply(f"{agent.display_name} (IT service desk) suggests: {article.title}\n\n{article.steps}\n\n"
                   f"Did this solve it?", buttons=(Button("Yes, solved", "yes"), Button("No, I need help", "no")),
                   ticket_ref=ticket.ref, articles=(ArticleLink(article.id, article.title, url),))
    row = _to_requester(session=session, ticket=ticket, agent=agent, reply=answer, record=f"sent article {article.id}",
                        now=now, key=key)
    where = requester_ref(session=session, ticket=ticket)
    if row is not None and where is not None and where[0] is not None:
        conversations.await_confirmation(session=session, conversation=where[0], article_id=article.id, now=now)
    return row


def answered_before(*, session: Session, key: str) -> tuple[Message, OutboxRow] | None:
    """What an answer (``reply``, ``send_article``) with ``key`` stored the first time: its message on the ticket and
    its row queued to the requester; None when no answer had that key."""
    message = ticket_queries.message_with_key(session=session, key=key)
    row = queue.outbound_with_key(session=session, key=_outbound_key(key))
    return (message, row) if message is not None and row is not None else None


def _outbound_key(key: str) -> str:
    return f"{key}:to-requester"


def _to_requester(*, session: Session, ticket: Ticket, agent: User, reply: Reply, record: str, now: dt.datetime,
                  key: str | None) -> OutboxRow | None:
    where = requester_ref(session=session, ticket=ticket)
    if where is None:
        raise NotFound(f"ticket {ticket.ref} has no conversation with its requester and no email address to answer")
    conversation, ref = where
    key = key or f"agent:{ticket.number}:{uuid.uuid4().hex}"
    try:
        tickets.add_message(session=session, idempotency_key=key, ticket=ticket, conversation=conversation,
                            direction=Direction.OUTBOUND, author_kind=AuthorKind.AGENT, channel=ref.channel,
                            text=record, author_user_id=agent.id, now=now)
    except DuplicateKey:
        return None
    row = queue.enqueue_outbound(session=session, key=_outbound_key(key), channel=ref.channel, address=ref.address,
                                 thread=ref.thread, now=now, ticket_id=ticket.id,
                                 payload=dataclasses.replace(reply, subject=reply.subject or ticket.subject).to_json())
    if ticket.status is Status.NEW:
        tickets.change_status(session=session, number=ticket.number, status=Status.OPEN, actor=Actor.of(agent).name,
                              now=now)
    return row


def note(*, session: Session, number: int, by: Actor, text: str, now: dt.datetime, channel: str = "desk",
         key: str | None = None, author_kind: AuthorKind = AuthorKind.AGENT) -> Message | None:
    """An internal note: on the ticket for agents, never queued to the requester. An actor without a desk user:
    someone the desk does not know wrote it (the caller says who in ``text``). None when ``key`` was stored before."""
    if not text.strip():
        raise DeskError("an empty note")
    ticket = tickets.get_ticket(session=session, number=number)
    try:
        return tickets.add_message(session=session, idempotency_key=key or f"note:{number}:{uuid.uuid4().hex}",
                                   ticket=ticket, conversation=None, direction=Direction.NOTE, author_kind=author_kind,
                                   channel=channel, text=text, author_user_id=by.user.id if by.user else None, now=now)
    except DuplicateKey:
        return None


def set_status(*, session: Session, number: int, by: Actor, status: Status, now: dt.datetime,
               resolution_code: ResolutionCode | None = None) -> Ticket:
    if status in (Status.RESOLVED, Status.CLOSED) and resolution_code is None:
        resolution_code = ResolutionCode.AGENT
    return tickets.change_status(session=session, number=number, status=status, actor=by.name,
                                 resolution_code=resolution_code, now=now)


def set_priority(*, session: Session, number: int, by: Actor, priority: Priority, now: dt.datetime) -> Ticket:
    return tickets.set_priority(session=session, number=number, priority=priority, actor=by.name, now=now)


def link_to_problem(*, session: Session, number: int, problem: int, by: Actor, now: dt.datetime) -> Ticket:
    return relations.link_to_problem(session=session, number=number, problem_number=problem, actor=by.name, now=now)


def merge(*, session: Session, number: int, into: int, by: Actor, now: dt.datetime) -> Ticket:
    """``number`` duplicates ``into``: its conversation moves there and it is resolved as a duplicate."""
    return relations.merge(session=session, number=number, into=into, actor=by.name, now=now)


def confirm_intent(*, session: Session, number: int, by: Actor, intent: str, known: frozenset[str],
                   now: dt.datetime) -> Ticket:
    """What the ticket really was about, as the agent says (the next ``deskbot nlp train`` learns it). ``known``: the
    intents a label may take."""
    intent = intent.strip()
    if intent not in known:
        raise DeskError(f"unknown intent {intent!r} (known: {', '.join(sorted(known))})")
    return tickets.confirm_intent(session=session, number=number, intent=intent, actor=by.name, now=now)


def record_csat(*, session: Session, number: int, score: int, by: Actor, now: dt.datetime) -> Ticket:
    """The requester's satisfaction, 1 to 5, on a resolved ticket (``by``: who recorded it)."""
    return tickets.record_csat(session=session, number=number, score=score, actor=by.name, now=now)
