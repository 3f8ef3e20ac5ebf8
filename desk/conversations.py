"""Conversations: one thread on one channel, the ticket it carries, and what the bot waits for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from desk.domain import ConversationWait
from desk.models import Conversation, Message, Ticket


def get_or_create(*, session: Session, channel: str, address: str, thread: str, requester_id: int) -> Conversation:
    conversation = session.scalar(select(Conversation).where(
        Conversation.channel == channel, Conversation.address == address, Conversation.thread == thread))
    if conversation is None:
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


def awaiting_confirmation_before(*, session: Session, before: dt.datetime) -> Sequence[Conversation]:
    return session.scalars(select(Conversation).where(
        Conversation.awaiting == ConversationWait.CONFIRMATION, Conversation.awaiting_since < before)).all()
