"""Inbox retention on the real databases, with the times set explicitly: raw payloads of handled messages and
sent replies older than the period are purged; the rows, keys and statuses stay; nothing else is touched."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.conversation import Attachment, ConversationRef, Identity, InboundMessage, Reply
from bot.retention import purge_expired
from desk import QueueStatus, queue
from desk.models import InboxRow, OutboxRow

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
RETENTION = dt.timedelta(days=90)
FILE = b"%PDF-1.7 the scanned contract"


def _message(key: str) -> InboundMessage:
    return InboundMessage(key=key, conversation=ConversationRef("email", "ana@corp.example", key),
                          sender=Identity("email", "ana@corp.example", "Ana", "ana@corp.example", email_verified=True),
                          text="My VPN drops.", subject="VPN", received_at=NOW,
                          attachments=(Attachment("contract.pdf", "application/pdf", FILE),),
                          raw="From: ana@corp.example\n\nMy VPN drops. (the whole raw mail)")


def _inbox(uow, key: str, *, done_days_ago: float | None) -> None:  # noqa: ANN001
    with uow() as s:
        queue.accept_inbound(session=s, key=key, channel="email", payload=_message(key).to_json(), now=NOW)
        if done_days_ago is not None:
            row = s.scalar(select(InboxRow).where(InboxRow.key == key))
            row.status, row.done_at = QueueStatus.DONE, NOW - dt.timedelta(days=done_days_ago)


def _outbox(uow, key: str, *, sent_days_ago: float | None) -> None:  # noqa: ANN001
    with uow() as s:
        row = queue.enqueue_outbound(session=s, key=key, channel="email", address="ana@corp.example", thread=key,
                                     payload=Reply("Your VPN ticket is #1042.").to_json(), now=NOW)
        if sent_days_ago is not None:
            row.status, row.sent_at = QueueStatus.DONE, NOW - dt.timedelta(days=sent_days_ago)


def test_payloads_past_the_retention_period_are_purged_and_the_rows_stay(uow) -> None:  # noqa: ANN001
    _inbox(uow, "old", done_days_ago=91)
    _inbox(uow, "recent", done_days_ago=89)
    _inbox(uow, "pending", done_days_ago=None)
    _outbox(uow, "old-reply", sent_days_ago=120)
    _outbox(uow, "recent-reply", sent_days_ago=10)
    _outbox(uow, "unsent-reply", sent_days_ago=None)

    assert purge_expired(uow=uow, retention=RETENTION, now=NOW, batch=1) == 2  # batches of one: the loop ends
    with uow() as s:
        inbox = {r.key: r for r in s.scalars(select(InboxRow))}
        outbox = {r.key: r for r in s.scalars(select(OutboxRow))}
        old = InboundMessage.from_json(inbox["old"].payload)
        assert (old.raw, old.attachments, old.text) == ("", (), "My VPN drops.")
        assert FILE.hex() not in inbox["old"].payload and "whole raw mail" not in inbox["old"].payload
        assert inbox["old"].status is QueueStatus.DONE and inbox["old"].purged_at == NOW
        for kept in ("recent", "pending"):
            assert InboundMessage.from_json(inbox[kept].payload) == _message(kept) and inbox[kept].purged_at is None
        assert "#1042" not in outbox["old-reply"].payload and outbox["old-reply"].purged_at == NOW
        assert "#1042" in outbox["recent-reply"].payload and "#1042" in outbox["unsent-reply"].payload

    # Idempotent, and a redelivery of the purged message is still recognised by its key.
    assert purge_expired(uow=uow, retention=RETENTION, now=NOW) == 0
    with uow() as s:
        assert queue.accept_inbound(session=s, key="old", channel="email", payload="{}", now=NOW) is None
