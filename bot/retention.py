"""Inbox retention: the raw content of handled messages (the raw mail, attachment bytes) and the text of sent
replies leave the queues after the retention period; the tickets keep what agents need. Ended chat sessions
(and the replies that waited for them) go at every housekeeping pass."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING
from collections.abc import Callable
from dataclasses import replace

from bot.conversation import InboundMessage, Reply
from desk import UnitOfWork, chat_sessions, queue

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("deskbot.retention")


def scrub_inbound(payload: str) -> str:
    """The stored message without its raw payload and attachments (the ticket keeps the files it accepted)."""
    try:
        message = InboundMessage.from_json(payload)
    except (ValueError, KeyError, TypeError):
        return "{}"  # not a message this bot can read: nothing of it is kept
    return replace(message, raw="", attachments=()).to_json()


def scrub_outbound(payload: str) -> str:
    """A sent reply's payload emptied: its text is in the ticket's thread, the outbox needs only the row."""
    return Reply("").to_json()


def purge_expired(*, uow: UnitOfWork, retention: dt.timedelta, now: dt.datetime | None = None,
                  batch: int = 500) -> int:
    """Purge every payload past ``retention``, ``batch`` rows a transaction. Returns how many rows."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - retention
    total = _in_batches(uow, batch, lambda session: queue.purge_inbound_payloads(
        session=session, done_before=cutoff, now=now, scrub=scrub_inbound, limit=batch))
    total += _in_batches(uow, batch, lambda session: queue.purge_outbound_payloads(
        session=session, sent_before=cutoff, now=now, scrub=scrub_outbound, limit=batch))
    if total:
        log.info("retention: purged the payloads of %d handled message(s) and sent replies", total)
    return total


def purge_ended_chat_sessions(*, uow: UnitOfWork, now: dt.datetime | None = None) -> int:
    """Delete the chat sessions past their end (those read meanwhile are deleted on read). Returns how many."""
    with uow() as session:
        done = chat_sessions.purge_ended(session=session, now=now or dt.datetime.now(dt.UTC))
    if done:
        log.info("retention: removed %d ended chat session(s)", done)
    return done


def _in_batches(uow: UnitOfWork, batch: int, purge: Callable[[Session], int]) -> int:
    """Short transactions, so a first purge of a large backlog never holds the queues for long."""
    total = 0
    while True:
        with uow() as session:
            done = purge(session)
        total += done
        if done < batch:
            return total
