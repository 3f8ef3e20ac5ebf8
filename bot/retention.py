"""Inbox retention: the raw content of handled messages (the raw mail, attachment bytes) and the text of sent
replies leave the queues after the retention period; the tickets keep what agents need."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING
from collections.abc import Callable
from dataclasses import replace

from bot.conversation import InboundMessage, Reply
from desk import UnitOfWork, queue

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


def _in_batches(uow: UnitOfWork, batch: int, purge: Callable[[Session], int]) -> int:
    """Short transactions, so a first purge of a large backlog never holds the queues for long."""
    total = 0
    while True:
        with uow() as session:
            done = purge(session)
        total += done
        if done < batch:
            return total
