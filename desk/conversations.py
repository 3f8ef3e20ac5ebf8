"""Conversations: one thread on one channel, the ticket it carries, and what the bot waits for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from desk.domain import AuthorKind, ConversationWait, Direction
from desk.models import AgentThread, Conversation, Message, Ticket


# built once (see desk._base)
_FIND = select(Conversation).where(Conversation.channel == bindparam("channel"),
                                   Conversation.address == bindparam("address"),
                                   Conversation.thread == bindparam("thread"))
_TICKET_OF_AGENT_THREAD = select(Ticket).join(AgentThread, AgentThread.ticket_id == Ticket.id).where(
    AgentThread.channel == bindparam("channel"), AgentThread.address == bindparam("address"),
    AgentThread.thread == bindparam("thread")).limit(1)
_BOT_REPLIES_SINCE = select(func.count(Message.id)).join(Conversation, Message.conversation_id == Conversation.id).where(
    Conversation.channel == bindparam("channel"), Conversation.address == bindparam("address"),
    Message.direction == Direction.OUTBOUND, Message.author_kind == AuthorKind.BOT,
    Message.created_at >= bindparam("since"))


def get_or_create(*, session: Session, channel: str, address: str, thread: str, requester_id: int) -> Conversation:
    return (find(session=session, channel=channel, address=address, thread=thread)
            or create(session=session, channel=channel, address=address, thread=thread, requester_id=requester_id))


def create(*, session: Session, channel: str, address: str, thread: str, requester_id: int) -> Conversation:
    """A new conversation, for a caller that has just found none (``find``) in this transaction."""
    conversation = Conversation(channel=channel, address=address, thread=thread, requester_id=requester_id)
    session.add(conversation)
    session.flush()
    return conversation


def attach_ticket(*, session: Session, conversation: Conversation, ticket: Ticket) -> None:
    """The conversation now carries ``ticket``; its earlier unticketed messages join the ticket's thread."""
    conversation.ticket = ticket
    conversation.clarifications = 0
    session.flush()
    session.execute(update(Message).where(Message.conversation_id == conversation.id, Message.ticket_id.is_(None))
                    .values(ticket_id=ticket.id))


def await_confirmation(*, session: Session, conversation: Conversation, article_id: str, now: dt.datetime) -> None:
    """The bot (or an agent) offered ``article_id`` and asked "did this solve it?": the next yes or no answers it."""
    conversation.awaiting, conversation.awaiting_since, conversation.offered_article = (
        ConversationWait.CONFIRMATION, now, article_id)
    session.flush()


def await_clarification(*, session: Session, conversation: Conversation) -> None:
    """The bot asked its one clarifying question (it never asks twice in a row)."""
    conversation.clarifications += 1
    conversation.awaiting = ConversationWait.CLARIFICATION
    session.flush()


def await_security_answer(*, session: Session, conversation: Conversation, intent: str, now: dt.datetime) -> None:
    """The bot asked whether a message it read as ``intent`` (a security intent, not confidently) is a security
    matter; the question counts as the conversation's one clarifying question. The intent is kept where an
    offered article is: each is what the awaited answer is about."""
    conversation.clarifications += 1
    conversation.awaiting, conversation.awaiting_since, conversation.offered_article = (
        ConversationWait.SECURITY_ANSWER, now, intent)
    session.flush()


def await_new_problem_answer(*, session: Session, conversation: Conversation, now: dt.datetime) -> None:
    """The bot asked whether a message is about the conversation's ticket or a new problem; the message waits,
    in the conversation but in no ticket (``held_request``), for the answer."""
    conversation.awaiting, conversation.awaiting_since = ConversationWait.NEW_PROBLEM_ANSWER, now
    session.flush()


def held_request(*, session: Session, conversation: Conversation) -> Message | None:
    """The requester's latest message in the conversation that is in no ticket: the one a question held back."""
    return session.scalar(select(Message).where(
        Message.conversation_id == conversation.id, Message.ticket_id.is_(None),
        Message.direction == Direction.INBOUND).order_by(Message.id.desc()).limit(1))


def detach_ticket(*, session: Session, conversation: Conversation) -> None:
    """The conversation moves on to a new problem: its ticket keeps its thread (and agents' answers still reach
    the requester here), but the conversation's next messages no longer join it."""
    conversation.ticket = None
    conversation.clarifications = 0
    conversation.awaiting, conversation.awaiting_since = ConversationWait.NOTHING, None
    session.flush()


REDIRECTED = "redirected to "  # how a redirect's note begins: the KPIs count these notes


def record_redirect(*, session: Session, conversation: Conversation, key: str, department: str,
                    now: dt.datetime) -> None:
    """The bot sent the requester to another department: a note in the conversation, in no ticket (no IT
    ticket opens), which the KPIs count as a redirect."""
    session.add(Message(idempotency_key=key, conversation_id=conversation.id, ticket_id=None,
                        direction=Direction.NOTE, author_kind=AuthorKind.BOT, channel="bot",
                        text=f"{REDIRECTED}{department}", created_at=now))
    session.flush()


def stop_waiting(*, session: Session, conversation: Conversation) -> None:
    conversation.awaiting, conversation.awaiting_since = ConversationWait.NOTHING, None
    session.flush()


def awaiting_confirmation_before(*, session: Session, before: dt.datetime) -> Sequence[Conversation]:
    return session.scalars(select(Conversation).where(
        Conversation.awaiting == ConversationWait.CONFIRMATION, Conversation.awaiting_since < before)).all()


def bot_replies_since(*, session: Session, channel: str, address: str, since: dt.datetime) -> int:
    """How many replies the bot wrote to ``address`` on ``channel`` (any thread) since ``since``."""
    return session.scalar(_BOT_REPLIES_SINCE, {"channel": channel, "address": address, "since": since}) or 0


def latest_for_ticket(*, session: Session, ticket: Ticket) -> Conversation | None:
    """Where an agent's answer goes: the conversation of the requester's latest message on ``ticket``, else the
    newest conversation of the requester that carries it. Never a conversation someone else opened: whoever
    wrote last on a ticket is not for that the person its answers belong to."""
    own = Conversation.requester_id == ticket.requester_id
    latest = session.scalar(select(Conversation).join(Message, Message.conversation_id == Conversation.id)
                            .where(Message.ticket_id == ticket.id, Message.direction == Direction.INBOUND, own)
                            .order_by(Message.id.desc()).limit(1))
    return latest or session.scalar(select(Conversation).where(Conversation.ticket_id == ticket.id, own)
                                    .order_by(Conversation.id.desc()).limit(1))


def find(*, session: Session, channel: str, address: str, thread: str) -> Conversation | None:
    return session.scalar(_FIND, {"channel": channel, "address": address, "thread": thread})


# --- agent threads: where a ticket was posted for its group's agents ---------------------------


def record_agent_post(*, session: Session, ticket_id: int, channel: str, address: str, outbox_id: int,
                      now: dt.datetime) -> AgentThread:
    """A post about the ticket is queued (``outbox_id``); its thread is filled in once it is sent."""
    post = AgentThread(ticket_id=ticket_id, channel=channel, address=address, thread="", outbox_id=outbox_id,
                       created_at=now)
    session.add(post)
    session.flush()
    return post


def ticket_of_agent_thread(*, session: Session, channel: str, address: str, thread: str) -> Ticket | None:
    if not thread:
        return None
    return session.scalar(_TICKET_OF_AGENT_THREAD, {"channel": channel, "address": address, "thread": thread})


def agent_thread_of(*, session: Session, ticket_id: int, channel: str) -> AgentThread | None:
    """The ticket's first agent post on ``channel`` (its thread may still be empty: not sent yet)."""
    return session.scalar(select(AgentThread).where(AgentThread.ticket_id == ticket_id, AgentThread.channel == channel)
                          .order_by(AgentThread.id).limit(1))
