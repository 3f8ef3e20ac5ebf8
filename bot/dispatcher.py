"""The dispatcher: sends outbox rows through their channel, in order per conversation, with retries."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

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

    def _finish(self, row_id: int, now: dt.datetime, error: str | None = None, retry_after: float | None = None,
                native_id: str | None = None, park: bool = False) -> None:
        with self.uow() as session:
            if error is None:
                queue.mark_sent(session=session, row_id=row_id, now=now, native_id=native_id)
                return
            status = queue.fail_outbound(session=session, row_id=row_id, error=error, now=now,
                                         max_attempts=0 if park else self.max_attempts, retry_after=retry_after)
            log.log(logging.ERROR if status.value == "failed" else logging.WARNING,
                    "reply %s not sent (%s): %s", row_id, status.value, error)

    async def dispatch_once(self, now: dt.datetime | None = None) -> int:
        """Send what is due now; returns how many rows were attempted."""
        clock = (lambda: now) if now is not None else (lambda: dt.datetime.now(dt.UTC))
        rows = await anyio.to_thread.run_sync(self._claim, clock())
        for row_id, channel, ref, payload in rows:
            error: str | None = None
            retry_after: float | None = None
            native_id: str | None = None
            park = False
            try:
                sent = await self.channels[channel].send(ref, Reply.from_json(payload))
                native_id = sent if isinstance(sent, str) else None
            except RateLimited as exc:
                error, retry_after = str(exc), exc.retry_after
            except Undeliverable as exc:  # retrying cannot help: parked now, 'deskbot outbox failed' shows why
                error, park = str(exc), True
            except Exception as exc:  # noqa: BLE001 - any channel failure is retried, then dead-lettered
                error = f"{type(exc).__name__}: {exc}"
            await anyio.to_thread.run_sync(self._finish, row_id, clock(), error, retry_after, native_id, park)
        return len(rows)
