"""What the worker's pipeline and the dispatchers need of the settings, in the units they use (time spans,
per-channel limits).

Every value comes from ``bot.settings.Settings``: this class has no defaults of its own, so a default is written
once, in ``Settings``, and a test that wants a different value says so (``BotSettings.defaults(batch_size=3)``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from bot.settings import Settings


@dataclass(frozen=True)
class BotSettings:
    retrieval_threshold: float
    answer_threshold: float | None  # None: the model's own validated threshold
    confirmation_window: dt.timedelta
    reopen_window: dt.timedelta
    max_attempts: int  # a message that failed this often is parked as failed (dead letter)
    batch_size: int
    messages_per_transaction: int  # of a claimed batch, handled in one transaction (a savepoint each)
    major_incident_count: int
    major_incident_window: dt.timedelta
    major_incident_similarity: float  # cosine of two reports' texts that counts as "the same problem"
    major_incident_named_similarity: float  # ... when both name one system (and do not both say it is out)
    lease: dt.timedelta  # a claimed message (or reply) whose worker (or dispatcher) died is retried after this
    outbox_max_attempts: int  # a reply a channel refused this often is parked as failed
    outbox_batch_size: int
    kb_url: str
    reply_prefix: str  # an agent's message in a ticket's thread starting with this goes to the requester
    max_attachment_bytes: int  # a larger attachment is not kept; the ticket gets a note
    refused_attachment_types: tuple[str, ...]  # ".ext" and MIME types never kept
    # At most this many bot replies per hour to one address of a channel (email: an autoresponder that slips past
    # the loop headers must not get mail forever); beyond it the message is handled, the reply becomes a note.
    replies_per_hour: dict[str, int]
    # At most this many messages an hour from one sender of a channel are processed; the rest wait as held mail
    # (no ticket, no reply, no notice) until released. A channel not named here (or 0) has no limit.
    inbound_per_hour: dict[str, int]
    # Handled messages' raw content and sent replies' text leave the queues after this (None: kept).
    inbox_retention: dt.timedelta | None
    kb_refresh: dt.timedelta  # how often the KB index is compared with the desk's published articles

    @classmethod
    def from_settings(cls, settings: Settings) -> BotSettings:
        s = settings
        return cls(
            retrieval_threshold=s.retrieval_threshold, answer_threshold=s.answer_threshold,
            confirmation_window=dt.timedelta(hours=s.confirmation_window_hours),
            reopen_window=dt.timedelta(days=s.reopen_window_days),
            max_attempts=s.worker_max_attempts, batch_size=s.worker_batch_size,
            messages_per_transaction=s.worker_messages_per_transaction, major_incident_count=s.major_incident_count,
            major_incident_window=dt.timedelta(minutes=s.major_incident_minutes),
            major_incident_similarity=s.major_incident_similarity,
            major_incident_named_similarity=s.major_incident_named_similarity,
            lease=dt.timedelta(seconds=s.worker_lease_seconds),
            outbox_max_attempts=s.outbox_max_attempts, outbox_batch_size=s.outbox_batch_size,
            kb_url=f"{s.public_url.rstrip('/')}/kb",
            reply_prefix=s.slack_reply_prefix,
            max_attachment_bytes=s.max_attachment_bytes,
            refused_attachment_types=tuple(s.refused_attachment_types),
            replies_per_hour={"email": s.email_replies_per_hour},
            inbound_per_hour={"email": s.email_inbound_per_hour},
            inbox_retention=dt.timedelta(days=s.inbox_retention_days),
            kb_refresh=dt.timedelta(seconds=s.kb_refresh_seconds),
        )

    @classmethod
    def defaults(cls, **changes: Any) -> BotSettings:
        """The values of a deployment that sets nothing (no environment, no deskbot.toml read), with ``changes``."""
        return replace(cls.from_settings(Settings.model_construct()), **changes)
