"""``/api/v1/admin/dead-letters``: inbound messages the workers and replies the channels failed on too often, with
their errors, and a retry for each (back to ``pending``, with a fresh count of attempts)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from bot.web.auth import Principal, signed_in
from desk import QueueStatus, UnitOfWork, administration, queue

if TYPE_CHECKING:
    from desk.models import InboxRow, OutboxRow

Admin = Annotated[Principal, Depends(signed_in)]


class InboundLetter(BaseModel):
    id: int
    channel: str
    sender: str  # the channel's id of who wrote (an address, a Slack user id)
    key: str  # the channel's own id of the message
    status: QueueStatus
    attempts: int
    error: str | None  # the last one
    received: dt.datetime

    @classmethod
    def of(cls, row: InboxRow) -> InboundLetter:
        return cls(id=row.id, channel=row.channel, sender=row.sender, key=row.key, status=row.status,
                   attempts=row.attempts, error=row.error, received=row.received_at)


class OutboundLetter(BaseModel):
    id: int
    channel: str
    address: str  # where it goes: a mailbox, a Slack channel, a chat
    thread: str
    status: QueueStatus
    attempts: int
    error: str | None  # the last one
    created: dt.datetime

    @classmethod
    def of(cls, row: OutboxRow) -> OutboundLetter:
        return cls(id=row.id, channel=row.channel, address=row.address, thread=row.thread, status=row.status,
                   attempts=row.attempts, error=row.error, created=row.created_at)


def queues_router(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/dead-letters")

    @router.get("/inbox", response_model=list[InboundLetter])
    def failed_inbound() -> list[InboundLetter]:
        """Inbound messages parked after too many failed attempts, oldest first."""
        with uow() as session:
            return [InboundLetter.of(r) for r in queue.failed_inbound(session=session)]

    @router.post("/inbox/{row_id}/retry", response_model=InboundLetter)
    def retry_inbound(row_id: int, admin: Admin) -> InboundLetter:
        """Back to the workers."""
        with uow() as session:
            return InboundLetter.of(administration.retry_inbound(session=session, actor=admin.actor, row_id=row_id,
                                                                 now=dt.datetime.now(dt.UTC)))

    @router.get("/outbox", response_model=list[OutboundLetter])
    def failed_outbound() -> list[OutboundLetter]:
        """Replies and notices a channel refused too often, oldest first."""
        with uow() as session:
            return [OutboundLetter.of(r) for r in queue.failed_outbound(session=session)]

    @router.post("/outbox/{row_id}/retry", response_model=OutboundLetter)
    def retry_outbound(row_id: int, admin: Admin) -> OutboundLetter:
        """Back to the dispatcher."""
        with uow() as session:
            return OutboundLetter.of(administration.retry_outbound(session=session, actor=admin.actor, row_id=row_id,
                                                                   now=dt.datetime.now(dt.UTC)))

    return router
