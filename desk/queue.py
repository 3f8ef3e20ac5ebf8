"""The durable inbox and outbox: accept, claim with a lease, complete, retry with backoff, dead-letter.

Several worker processes may claim at once: on PostgreSQL the claim is
``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time anyway. A row whose
worker died is claimed again once its lease has run out.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from desk.domain import NotFound, QueueStatus
from desk.models import AgentThread, InboxRow, OutboxRow

DEFAULT_LEASE = dt.timedelta(seconds=60)


def backoff(attempts: int, *, base: float = 2.0, cap: float = 300.0, jitter: float = 0.25) -> dt.timedelta:
    """Exponential backoff with jitter: about 2 s, 4 s, 8 s ... capped at ``cap`` seconds."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=delay * (1 + random.uniform(-jitter, jitter)))


def _claimable(model: type[InboxRow] | type[OutboxRow], now: dt.datetime):  # noqa: ANN202
    return or_(
        and_(model.status == QueueStatus.PENDING, model.available_at <= now),
        and_(model.status == QueueStatus.PROCESSING, model.lease_until < now),  # its worker died
    )


# --- inbox ---------------------------------------------------------------------------------


def accept_inbound(*, session: Session, key: str, channel: str, payload: str, now: dt.datetime,
                   conversation: str = "") -> bool:
    """Store an inbound message; False (and no change) if its key was stored before."""
    if session.scalar(select(InboxRow.id).where(InboxRow.key == key)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(InboxRow(key=key, channel=channel, payload=payload, status=QueueStatus.PENDING,
                                 available_at=now, received_at=now, conversation=conversation))
    except IntegrityError:
        return False
    return True


def claim_inbound(*, session: Session, worker: str, limit: int, now: dt.datetime,
                  lease: dt.timedelta = DEFAULT_LEASE) -> list[InboxRow]:
    """Claimable messages, at most one per conversation (the oldest unfinished), so replies keep their order."""
    earlier = aliased(InboxRow)
    blocked = exists().where(
        earlier.conversation == InboxRow.conversation,
        earlier.id < InboxRow.id,
        earlier.status.in_((QueueStatus.PENDING, QueueStatus.PROCESSING)),
    )
    rows = session.scalars(
        select(InboxRow).where(_claimable(InboxRow, now), ~blocked).order_by(InboxRow.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.status, row.worker, row.lease_until = QueueStatus.PROCESSING, worker, now + lease
        row.attempts += 1
    session.flush()
    return list(rows)


def complete_inbound(*, session: Session, row_id: int, worker: str, now: dt.datetime) -> bool:
    """Mark done in the transaction that holds the message's effects; False if the lease was lost."""
    result = session.execute(
        update(InboxRow)
        .where(InboxRow.id == row_id, InboxRow.worker == worker, InboxRow.status == QueueStatus.PROCESSING)
        .values(status=QueueStatus.DONE, done_at=now, lease_until=None, error=None)
    )
    return result.rowcount == 1


def fail_inbound(*, session: Session, row_id: int, error: str, now: dt.datetime, max_attempts: int) -> QueueStatus:
    row = session.get(InboxRow, row_id)
    if row is None:
        raise NotFound(f"no inbox row {row_id}")
    row.error = error[:4000]
    row.lease_until = None
    if row.attempts >= max_attempts:
        row.status = QueueStatus.FAILED
    else:
        row.status, row.available_at = QueueStatus.PENDING, now + backoff(row.attempts)
    return row.status


def failed_inbound(*, session: Session) -> Sequence[InboxRow]:
    return session.scalars(select(InboxRow).where(InboxRow.status == QueueStatus.FAILED).order_by(InboxRow.id)).all()


def retry_inbound(*, session: Session, row_id: int, now: dt.datetime) -> InboxRow:
    row = session.get(InboxRow, row_id)
    if row is None or row.status is not QueueStatus.FAILED:
        raise NotFound(f"no failed inbox message with id {row_id}")
    row.status, row.available_at, row.attempts = QueueStatus.PENDING, now, 0
    return row


# --- outbox --------------------------------------------------------------------------------


def enqueue_outbound(*, session: Session, key: str, channel: str, address: str, thread: str, payload: str,
                     now: dt.datetime, ticket_id: int | None = None) -> OutboxRow:
    row = OutboxRow(key=key, channel=channel, address=address, thread=thread, payload=payload, ticket_id=ticket_id,
                    status=QueueStatus.PENDING, available_at=now, created_at=now)
    session.add(row)
    session.flush()
    return row


def claim_outbound(*, session: Session, worker: str, limit: int, now: dt.datetime,
                   channels: Sequence[str] | None = None, lease: dt.timedelta = DEFAULT_LEASE) -> list[OutboxRow]:
    """Claimable replies, at most one per conversation: the oldest one not yet sent or dead."""
    earlier = aliased(OutboxRow)
    blocked = exists().where(
        earlier.channel == OutboxRow.channel,
        earlier.address == OutboxRow.address,
        earlier.thread == OutboxRow.thread,
        earlier.id < OutboxRow.id,
        earlier.status.in_((QueueStatus.PENDING, QueueStatus.PROCESSING)),
    )
    query = select(OutboxRow).where(_claimable(OutboxRow, now), ~blocked)
    if channels is not None:
        query = query.where(OutboxRow.channel.in_(list(channels)))
    rows = session.scalars(query.order_by(OutboxRow.id).limit(limit).with_for_update(skip_locked=True)).all()
    for row in rows:
        row.status, row.worker, row.lease_until = QueueStatus.PROCESSING, worker, now + lease
        row.attempts += 1
    session.flush()
    return list(rows)


def mark_sent(*, session: Session, row_id: int, now: dt.datetime, native_id: str | None = None) -> None:
    """Done; ``native_id`` (the platform's message id) is kept, and an agent post's thread learns it."""
    session.execute(update(OutboxRow).where(OutboxRow.id == row_id)
                    .values(status=QueueStatus.DONE, sent_at=now, lease_until=None, error=None, native_id=native_id))
    if native_id:
        session.execute(update(AgentThread).where(AgentThread.outbox_id == row_id, AgentThread.thread == "")
                        .values(thread=native_id))


def fail_outbound(*, session: Session, row_id: int, error: str, now: dt.datetime, max_attempts: int,
                  retry_after: float | None = None) -> QueueStatus:
    row = session.get(OutboxRow, row_id)
    if row is None:
        raise NotFound(f"no outbox row {row_id}")
    row.error, row.lease_until = error[:4000], None
    if row.attempts >= max_attempts:
        row.status = QueueStatus.FAILED
    else:
        delay = dt.timedelta(seconds=retry_after) if retry_after is not None else backoff(row.attempts)
        row.status, row.available_at = QueueStatus.PENDING, now + delay
    return row.status


def failed_outbound(*, session: Session) -> Sequence[OutboxRow]:
    return session.scalars(select(OutboxRow).where(OutboxRow.status == QueueStatus.FAILED).order_by(OutboxRow.id)).all()


def sent_message(*, session: Session, channel: str, native_ids: Sequence[str]) -> OutboxRow | None:
    """The newest message the bot sent on ``channel`` whose platform id is one of ``native_ids``, compared
    whole, as stored (email: our Message-IDs, which carry an unguessable part)."""
    ids = [i for i in dict.fromkeys(native_ids) if i][:100]
    if not ids:
        return None
    return session.scalar(select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.native_id.in_(ids),
                                                  OutboxRow.status == QueueStatus.DONE)
                          .order_by(OutboxRow.id.desc()).limit(1))
