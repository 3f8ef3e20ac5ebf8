"""The dispatcher: sends outbox rows through their channel, in order per conversation, with retries.

A claim's rows are sent one after the other and finished together in one transaction. As with one row at a
time, a crash between a send and that commit sends the row again once its lease runs out (at least once)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import anyio.to_thread

from bot.conversation import ChannelAdapter, ConversationRef, RateLimited, Reply, Undeliverable
from bot.worker_settings import BotSettings
from desk import UnitOfWork, queue

log = logging.getLogger("deskbot.dispatcher")


class Dispatcher:
    def __init__(self, *, uow: UnitOfWork, channels: Mapping[str, ChannelAdapter], worker: str, settings: BotSettings):
        self.uow = uow
        self.channels = dict(channels)
        self.worker = worker
        self.max_attempts = settings.outbox_max_attempts
        self.batch_size = settings.outbox_batch_size
        self.lease = settings.lease
        self.name = ",".join(sorted(self.channels))

    def _claim(self, now: dt.datetime) -> list[tuple[int, str, ConversationRef, str]]:
        with self.uow() as session:
            rows = queue.claim_outbound(session=session, worker=self.worker, limit=self.batch_size, now=now,
                                        channels=list(self.channels), lease=self.lease)
            return [(r.id, r.channel, ConversationRef(r.channel, r.address, r.thread), r.payload) for r in rows]

    def _finish(self, outcomes: list[Outcome], now: dt.datetime) -> None:
        """Every row of a claim finished in one transaction (one turn of SQLite's write lock, not one a row)."""
        with self.uow() as session:
            for o in outcomes:
                if o.error is None:
                    queue.mark_sent(session=session, row_id=o.row_id, now=now, native_id=o.native_id)
                    continue
                status = queue.fail_outbound(session=session, row_id=o.row_id, error=o.error, now=now,
                                             max_attempts=0 if o.park else self.max_attempts,
                                             retry_after=o.retry_after)
                log.log(logging.ERROR if status.value == "failed" else logging.WARNING,
                        "reply %s not sent (%s): %s", o.row_id, status.value, o.error)

    async def dispatch_once(self, now: dt.datetime | None = None) -> int:
        """Send what is due now; returns how many rows were attempted."""
        clock = (lambda: now) if now is not None else (lambda: dt.datetime.now(dt.UTC))
        rows = await anyio.to_thread.run_sync(self._claim, clock())
        outcomes = [await self._send(row_id, channel, ref, payload) for row_id, channel, ref, payload in rows]
        if outcomes:
            await anyio.to_thread.run_sync(self._finish, outcomes, clock())
        return len(rows)

    async def _send(self, row_id: int, channel: str, ref: ConversationRef, payload: str) -> Outcome:
        try:
            sent = await self.channels[channel].send(ref, Reply.from_json(payload))
        except RateLimited as exc:
            return Outcome(row_id, error=str(exc), retry_after=exc.retry_after)
        except Undeliverable as exc:  # retrying cannot help: parked now, 'deskbot outbox failed' shows why
            return Outcome(row_id, error=str(exc), park=True)
        except Exception as exc:  # noqa: BLE001 - any channel failure is retried, then dead-lettered
            return Outcome(row_id, error=f"{type(exc).__name__}: {exc}")
        return Outcome(row_id, native_id=sent if isinstance(sent, str) else None)


@dataclass(frozen=True)
class Outcome:
    """What sending one claimed row came to."""

    row_id: int
    native_id: str | None = None  # the platform's id of the sent message
    error: str | None = None  # None: sent
    retry_after: float | None = None  # the platform's rate limit, in seconds
    park: bool = False  # undeliverable: failed for good now
