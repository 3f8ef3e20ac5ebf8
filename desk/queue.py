"""The durable inbox and outbox: accept, claim with a lease, complete, retry with backoff, dead-letter.

Several worker processes may claim at once: on PostgreSQL the claim is
``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time anyway. A row whose
worker died is claimed again once its lease has run out.

A sender over its hourly limit has its message stored as ``held``: never claimed (no ticket, no
reply, no notice) until someone releases it, and never lost.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence

from sqlalchemy import and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from desk._base import ConflictInserts
from desk.domain import NotFound, QueueStatus
from desk.models import AgentThread, InboxRow, OutboxRow

DEFAULT_LEASE = dt.timedelta(seconds=60)
SENDER_WINDOW = dt.timedelta(hours=1)
_SENDER_LOCK_SPACE = 7007  # the first key of PostgreSQL advisory locks taken per sender (the second: its hash)


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


_STORE_INBOUND = ConflictInserts(lambda insert: insert(InboxRow).values({
    column: bindparam(f"i_{column}") for column in ("key", "channel", "payload", "status", "available_at",
                                                    "received_at", "conversation", "sender")})
    .on_conflict_do_nothing(index_elements=[InboxRow.key]).returning(InboxRow.id))


def accept_inbound(*, session: Session, key: str, channel: str, payload: str, now: dt.datetime,
                   conversation: str = "", sender: str = "", per_hour: int = 0) -> QueueStatus | None:
    """Store an inbound message: ``pending``, or ``held`` when ``sender`` already had ``per_hour`` messages of
    this channel accepted for processing in the last hour (0: no limit). None (and no change) if its key was
    stored before."""
    sender = sender[:254]
    status = QueueStatus.PENDING
    if per_hour > 0 and sender:
        _lock_sender(session, channel=channel, sender=sender)
        if _accepted_in_window(session, channel=channel, sender=sender, now=now) >= per_hour:
            status = QueueStatus.HELD
    # One statement, however many processes store the same key at once: the first one's row stands.
    stored = session.scalar(_STORE_INBOUND.for_(session), {
        "i_key": key, "i_channel": channel, "i_payload": payload, "i_status": status, "i_available_at": now,
        "i_received_at": now, "i_conversation": conversation, "i_sender": sender})
    return None if stored is None else status


def _lock_sender(session: Session, *, channel: str, sender: str) -> None:
    """Serialise the count-then-insert of one sender's messages until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on the sender's hash; under READ COMMITTED the count,
    run after the lock is granted, sees every row committed by whoever held it before, so several
    processes accepting one sender's mail at once never let more than the limit through (a hash clash
    between two senders only makes them wait for each other). SQLite: every transaction begins IMMEDIATE
    (desk.db), so the database's one writer lock already serialises them.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:sender))"),
                        {"space": _SENDER_LOCK_SPACE, "sender": f"{channel}|{sender}"})


def _accepted_in_window(session: Session, *, channel: str, sender: str, now: dt.datetime) -> int:
    """How many of the sender's messages were accepted for processing in the last hour (ix_inbox_sender)."""
    return session.scalar(select(func.count(InboxRow.id)).where(
        InboxRow.channel == channel, InboxRow.sender == sender, InboxRow.received_at > now - SENDER_WINDOW,
        InboxRow.status != QueueStatus.HELD)) or 0


def held_inbound(*, session: Session, sender: str | None = None) -> Sequence[InboxRow]:
    """Messages held over their sender's limit, oldest first (only ``sender``'s, in any case, when given)."""
    query = select(InboxRow).where(InboxRow.status == QueueStatus.HELD)
    if sender is not None:
        query = query.where(func.lower(InboxRow.sender) == sender.lower())
    return session.scalars(query.order_by(InboxRow.id)).all()


def release_inbound(*, session: Session, now: dt.datetime, row_ids: Sequence[int] = (),
                    sender: str | None = None) -> list[InboxRow]:
    """Back to ``pending`` (the worker handles them, past the limit): the held messages ``row_ids``, or all of
    ``sender``'s. NotFound, and nothing released, if an id is not a held message."""
    if bool(row_ids) == (sender is not None):
        raise ValueError("name held messages by id or by sender, not both nor neither")
    if sender is not None:
        rows = list(held_inbound(session=session, sender=sender))
    else:
        rows = list(session.scalars(select(InboxRow).where(InboxRow.id.in_(list(row_ids)),
                                                           InboxRow.status == QueueStatus.HELD)).all())
        missing = sorted(set(row_ids) - {r.id for r in rows})
        if missing:
            raise NotFound(f"no held inbox message with id {', '.join(map(str, missing))}")
    for row in rows:
        row.status, row.available_at = QueueStatus.PENDING, now
    return rows


def replace_inbound_payload(*, session: Session, row_id: int, payload: str) -> None:
    """The stored message rewritten (without content that must not be kept), in the caller's transaction."""
    session.execute(update(InboxRow).where(InboxRow.id == row_id).values(payload=payload))


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
    result = session.execute(_COMPLETE_INBOUND, {"row_id": row_id, "claimed_by": worker, "now": now})
    return result.rowcount == 1


# built once (see desk._base)
_COMPLETE_INBOUND = (update(InboxRow)
                     .where(InboxRow.id == bindparam("row_id"), InboxRow.worker == bindparam("claimed_by"),
                            InboxRow.status == QueueStatus.PROCESSING)
                     .values(status=QueueStatus.DONE, done_at=bindparam("now"), lease_until=None, error=None))


def fail_inbound(*, session: Session, row_id: int, error: str, now: dt.datetime, max_attempts: int,
                 worker: str | None = None) -> QueueStatus:
    """Back to pending after a backoff, or failed for good after ``max_attempts``. Given ``worker``, only while
    that worker still holds the row: one whose lease ran out and that another worker (or this one, again) has
    since done is left as it is."""
    row = session.get(InboxRow, row_id)
    if row is None:
        raise NotFound(f"no inbox row {row_id}")
    if worker is not None and (row.status is not QueueStatus.PROCESSING or row.worker != worker):
        return row.status
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


def outbound_with_key(*, session: Session, key: str) -> OutboxRow | None:
    return session.scalar(select(OutboxRow).where(OutboxRow.key == key))


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


def retry_outbound(*, session: Session, row_id: int, now: dt.datetime) -> OutboxRow:
    """A dead reply back to ``pending``, with a fresh count of attempts: the dispatcher sends it again."""
    row = session.get(OutboxRow, row_id)
    if row is None or row.status is not QueueStatus.FAILED:
        raise NotFound(f"no failed outbox message with id {row_id}")
    row.status, row.available_at, row.attempts, row.lease_until = QueueStatus.PENDING, now, 0, None
    return row


def sent_message(*, session: Session, channel: str, native_ids: Sequence[str]) -> OutboxRow | None:
    """The newest message the bot sent on ``channel`` whose platform id is one of ``native_ids``, compared
    whole, as stored (email: our Message-IDs, which carry an unguessable part)."""
    ids = [i for i in dict.fromkeys(native_ids) if i][:100]
    if not ids:
        return None
    return session.scalar(select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.native_id.in_(ids),
                                                  OutboxRow.status == QueueStatus.DONE)
                          .order_by(OutboxRow.id.desc()).limit(1))


# --- retention -------------------------------------------------------------------------------


def purge_inbound_payloads(*, session: Session, done_before: dt.datetime, now: dt.datetime,
                           scrub: Callable[[str], str], limit: int = 500) -> int:
    """Payloads of messages done before ``done_before`` rewritten by ``scrub`` (which drops their raw content);
    the row, its key (idempotency) and its status stay. Returns how many, at most ``limit``."""
    return _purge(session, InboxRow, InboxRow.done_at, before=done_before, now=now, scrub=scrub, limit=limit)


def purge_outbound_payloads(*, session: Session, sent_before: dt.datetime, now: dt.datetime,
                            scrub: Callable[[str], str], limit: int = 500) -> int:
    """The same for replies sent before ``sent_before``."""
    return _purge(session, OutboxRow, OutboxRow.sent_at, before=sent_before, now=now, scrub=scrub, limit=limit)


def _purge(session: Session, model: type[InboxRow] | type[OutboxRow], finished_at, *,  # noqa: ANN001
           before: dt.datetime, now: dt.datetime, scrub: Callable[[str], str], limit: int) -> int:
    rows = session.scalars(
        select(model).where(model.status == QueueStatus.DONE, finished_at < before, model.purged_at.is_(None))
        .order_by(model.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.payload, row.purged_at = scrub(row.payload), now
    return len(rows)
