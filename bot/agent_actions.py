"""What agents do from a channel's agent view (today: Slack): assign, reply to the requester, send an
article, or write in the ticket's thread.

Everything arrives as an ``InboundMessage`` through the inbox, so a click or a message is never lost
and a redelivery changes nothing (its key is the message's idempotency key). The agent is the desk
user with the sender's verified email. A reply to the requester is recorded as the agent's public
message on the ticket and queued to the requester's own conversation (email, web chat, Slack...);
everything else said in the thread is an internal note and is never queued to the requester.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.conversation import AgentAction, ArticleLink, Button, ConversationRef, InboundMessage, Reply
from desk import AuthorKind, DeskError, Direction, DuplicateKey, Status, conversations, people, queue, tickets
from desk.domain import ConversationWait, NotFound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desk.models import Conversation, OutboxRow, Ticket, User

log = logging.getLogger("deskbot.agents")


class AgentDesk:
    def __init__(self, *, reply_prefix: str, kb_url: str, articles: Callable[[], Mapping[str, Any]]):
        self.reply_prefix = reply_prefix.strip()
        self.kb_url = kb_url.rstrip("/")
        self.articles = articles  # the KB's articles by id, read when needed (the KB may be reloaded)

    def handle(self, session: Session, message: InboundMessage, thread_ticket: Ticket | None, now: dt.datetime) -> None:
        action = message.agent or AgentAction("note")
        if action.kind == "note" and self._is_reply(message.text):
            action = AgentAction("reply", action.ticket)
        ticket = thread_ticket
        if action.ticket is not None:
            try:
                ticket = tickets.get_ticket(session=session, number=action.ticket)
            except NotFound:
                ticket = None
        if ticket is None:
            self._tell(session, message, now, "I can't find the ticket this is about.")
            return
        sender = message.sender
        agent = people.find_user_by_email(session=session, email=sender.email if sender.email_verified else None)
        if action.kind == "note":
            author = "" if agent else f"{sender.display_name or sender.external_id} (not a desk agent): "
            self._note(session, message, ticket, f"{author}{message.text}", agent, now)
            return
        if agent is None:
            self._tell(session, message, now, f"Only desk agents can do that; ask an admin to add you "
                                              f"(deskbot user add ... --email {sender.email or 'your work email'}).")
            return
        try:
            getattr(self, f"_{action.kind}")(session, message, action, ticket, agent, now)
        except DeskError as exc:
            self._tell(session, message, now, f"{ticket.ref}: {exc}")

    # --- the actions -----------------------------------------------------------------------------

    def _assign(self, session: Session, message: InboundMessage, action: AgentAction, ticket: Ticket, agent: User,
                now: dt.datetime) -> None:
        tickets.assign(session=session, number=ticket.number, username=agent.username, actor=_actor(agent), now=now)
        self._note(session, message, ticket, f"assigned to {agent.username} from Slack", agent, now,
                   author_kind=AuthorKind.SYSTEM)
        self._tell(session, message, now, f"{ticket.ref} is assigned to {agent.display_name}.")

    def _reply(self, session: Session, message: InboundMessage, action: AgentAction, ticket: Ticket, agent: User,
               now: dt.datetime) -> None:
        text = self._strip_prefix(message.text).strip()
        if not text:
            self._tell(session, message, now, f"Nothing to send: write the reply after {self.reply_prefix or 'the prefix'}.")
            return
        self._to_requester(session, message, ticket, agent, Reply(_signed(agent, text), ticket_ref=ticket.ref), text,
                           now)

    def _send_article(self, session: Session, message: InboundMessage, action: AgentAction, ticket: Ticket,
                      agent: User, now: dt.datetime) -> None:
        article = self.articles().get(action.article_id or "")
        if article is None:
            self._tell(session, message, now, f"There is no article {action.article_id} in the knowledge base.")
            return
        reply = Reply(f"{agent.display_name} (IT service desk) suggests: {article.title}\n\n{article.steps}\n\n"
                      f"Did this solve it?", buttons=(Button("Yes, solved", "yes"), Button("No, I need help", "no")),
                      ticket_ref=ticket.ref, articles=(ArticleLink(article.id, article.title, f"{self.kb_url}/{article.id}"),))
        conversation = self._to_requester(session, message, ticket, agent, reply, f"sent article {article.id}", now)
        if conversation is not None:
            conversation.awaiting, conversation.awaiting_since = ConversationWait.CONFIRMATION, now
            conversation.offered_article = article.id

    # --- helpers -----------------------------------------------------------------------------------

    def _to_requester(self, session: Session, message: InboundMessage, ticket: Ticket, agent: User, reply: Reply,
                      record: str, now: dt.datetime) -> Conversation | None:
        """Record the agent's public message on the ticket and queue it to the requester's own channel."""
        where = requester_ref(session=session, ticket=ticket)
        if where is None:
            self._tell(session, message, now, f"{ticket.ref} has no conversation with its requester to reply to.")
            return None
        conversation, ref = where
        if send_to_requester(session=session, ticket=ticket, conversation=conversation, ref=ref, reply=reply,
                             record=record, agent=agent, message_key=message.key,
                             outbox_key=f"{message.key}:to-requester", now=now) is None:
            log.info("agent message %s was handled before", message.key)
            return conversation
        self._tell(session, message, now, f"Sent to the requester ({ref.channel}).")
        return conversation

    def _note(self, session: Session, message: InboundMessage, ticket: Ticket, text: str, agent: User | None,
              now: dt.datetime, *, author_kind: AuthorKind = AuthorKind.AGENT) -> None:
        """An internal note on the ticket: never queued to the requester."""
        try:
            tickets.add_message(session=session, idempotency_key=message.key, ticket=ticket, conversation=None,
                                direction=Direction.NOTE, author_kind=author_kind,
                                channel=message.conversation.channel, text=text,
                                author_user_id=agent.id if agent else None, now=now)
        except DuplicateKey:
            log.info("agent message %s was handled before", message.key)

    def _tell(self, session: Session, message: InboundMessage, now: dt.datetime, text: str) -> None:
        """A short answer to the agent, in the thread the action came from."""
        ref = message.conversation
        queue.enqueue_outbound(session=session, key=f"{message.key}:feedback", channel=ref.channel, address=ref.address,
                               thread=ref.thread, payload=Reply(text).to_json(), now=now)

    def _is_reply(self, text: str) -> bool:
        return bool(self.reply_prefix) and text.lstrip().lower().startswith(self.reply_prefix.lower())

    def _strip_prefix(self, text: str) -> str:
        stripped = text.lstrip()
        if self._is_reply(stripped):
            return stripped[len(self.reply_prefix):]
        return stripped


def requester_ref(*, session: Session, ticket: Ticket) -> tuple[Conversation | None, ConversationRef] | None:
    """Where an agent's answer goes: the requester's latest conversation on the ticket, else (a ticket opened
    by an agent after a phone call) the requester's verified email address; None when neither exists."""
    conversation = conversations.latest_for_ticket(session=session, ticket=ticket)
    if conversation is not None:
        return conversation, ConversationRef(conversation.channel, conversation.address, conversation.thread)
    if ticket.requester.email:
        return None, ConversationRef("email", ticket.requester.email, "")
    return None


def send_to_requester(*, session: Session, ticket: Ticket, conversation: Conversation | None, ref: ConversationRef,
                      reply: Reply, record: str, agent: User, message_key: str, outbox_key: str,
                      now: dt.datetime) -> OutboxRow | None:
    """An agent's public message: ``record`` stored on the ticket, ``reply`` (with the ticket's subject) queued to
    ``ref``, and a new ticket opened. None when ``message_key`` was stored before (a redelivery): nothing is
    queued twice."""
    try:
        tickets.add_message(session=session, idempotency_key=message_key, ticket=ticket, conversation=conversation,
                            direction=Direction.OUTBOUND, author_kind=AuthorKind.AGENT, channel=ref.channel,
                            text=record, author_user_id=agent.id, now=now)
    except DuplicateKey:
        return None
    row = queue.enqueue_outbound(session=session, key=outbox_key, channel=ref.channel, address=ref.address,
                                 thread=ref.thread, now=now, ticket_id=ticket.id,
                                 payload=dataclasses.replace(reply, subject=reply.subject or ticket.subject).to_json())
    if ticket.status is Status.NEW:
        tickets.change_status(session=session, number=ticket.number, status=Status.OPEN, actor=_actor(agent), now=now)
    return row


def reply_as_agent(*, session: Session, number: int, username: str, text: str, now: dt.datetime) -> OutboxRow:
    """An agent's answer typed outside a channel (the command line, the console): stored on the ticket (the
    first response, for the SLA) and queued to the requester's own channel with the ticket's subject."""
    ticket = tickets.get_ticket(session=session, number=number)
    agent = people.get_user(session=session, username=username)
    where = requester_ref(session=session, ticket=ticket)
    if where is None:
        raise NotFound(f"ticket {ticket.ref} has no conversation with its requester and no email address to answer")
    conversation, ref = where
    key = f"agent:{ticket.number}:{uuid.uuid4().hex}"  # each call is a new answer
    row = send_to_requester(session=session, ticket=ticket, conversation=conversation, ref=ref,
                            reply=Reply(_signed(agent, text), ticket_ref=ticket.ref), record=text, agent=agent,
                            message_key=key, outbox_key=key, now=now)
    assert row is not None  # a fresh key is never a redelivery
    return row


def _signed(agent: User, text: str) -> str:
    """What the requester reads: who answered, then the answer."""
    return f"{agent.display_name} (IT service desk): {text}"


def _actor(agent: User) -> str:
    return f"user:{agent.username}"
