"""The worker's pipeline: accept messages into the inbox, claim them, analyse them in one batch, handle each in
a savepoint of the batch's transaction (``bot.worker._message``), and the periodic work (expired KB answers, the
SLA scan).

A message's desk changes, its reply rows in the outbox, the group notices its events make and the inbox row's
"done" commit together, or not at all (then it is retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import agents
from bot.agents import AgentDesk
from bot.conversation import ConversationRef, DropAttachments, Identity, InboundMessage
from bot.policy import labels
from bot.signals import Signal
from bot.worker._group_commit import GroupCommit
from bot.worker._major import Reports
from bot.worker._message import handle, readable_text
from bot.worker_settings import BotSettings
from desk import ResolutionCode, UnitOfWork
from desk import conversations, people, queue, sla, tickets
from desk.departments import packaged_directory
from desk.systems import packaged_systems
from desk.domain import ACTIVE_STATUSES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from nlp import Analysis, Analyzer

log = logging.getLogger("deskbot.worker")
WARM_UP_MESSAGES = ("How do I reset my password?", "The printer on floor 3 is jammed and shows error E-52")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class ClaimedBatch:
    """Messages claimed under this worker's lease, in the order of their rows."""

    rows: list[int]
    messages: list[InboundMessage]
    now: dt.datetime | None  # the caller's clock (tests); None: each message is stamped when it is handled


@dataclass(frozen=True)
class AnalysedBatch:
    """A claimed batch and its analyses (no messages: their analysis failed, they were failed for a retry)."""

    rows: list[int]
    messages: list[InboundMessage]
    analyses: list[Analysis | None]
    now: dt.datetime | None


class Pipeline:
    """The worker's loop body and the inbox's front door; ``uow`` publishes the desk's events (the composition
    root wires the group notices into it)."""

    def __init__(self, *, uow: UnitOfWork, analyzer: Analyzer, settings: BotSettings, worker: str | None = None,
                 drop_from_raw: Mapping[str, DropAttachments] | None = None):
        self.uow = uow
        self.drop_from_raw = dict(drop_from_raw or {})  # per channel: refused attachments out of its raw payload
        self.analyzer = analyzer
        self.settings = settings
        self.directory = packaged_directory()  # read now: a broken file stops the start, naming file and line
        self.reports = Reports(packaged_systems())  # the major-incident window's reports (same: systems.yaml)
        self.worker = worker or worker_name()
        self.accepted = Signal()  # a message is in the inbox: the worker loop need not wait for its poll
        self._accepting: GroupCommit[InboundMessage, bool] = GroupCommit(self._accept_all)
        self._replied: dict[str, Signal] = {}  # per channel: a handled message committed its reply there
        # Told the channel too, from the worker's thread: a worker process tells the serve that runs the dispatchers.
        self.reply_listeners: list[Callable[[str], None]] = []
        self.agents = AgentDesk(reply_prefix=settings.reply_prefix, kb_url=settings.kb_url,
                                articles=lambda: self.analyzer.kb.articles, intents=labels())

    # --- accepting ------------------------------------------------------------------------

    def accept(self, message: InboundMessage) -> bool:
        """Commit an inbound message to the inbox; False if it was delivered before. Messages accepted at once
        from several threads commit together (``GroupCommit``)."""
        return self._accepting(message)

    def _accept_all(self, messages: Sequence[InboundMessage]) -> list[bool | BaseException]:
        stored: list[bool | BaseException] = []
        with self.uow() as session:
            for message in messages:
                ref = message.conversation
                try:
                    with self.uow.savepoint(session):
                        stored.append(queue.accept_inbound(
                            session=session, key=message.key, channel=ref.channel, payload=message.to_json(),
                            now=message.received_at, conversation=f"{ref.channel}|{ref.address}|{ref.thread}",
                            sender=message.sender.external_id,
                            per_hour=self.settings.inbound_per_hour.get(ref.channel, 0)) is not None)
                except Exception as exc:  # noqa: BLE001 - this message fails alone; its sender hears of it
                    stored.append(exc)
        if any(s is True for s in stored):  # committed: the worker may claim them now
            self.accepted.notify()
        return stored

    async def receive(self, message: InboundMessage) -> bool:
        """``accept`` for a channel's event loop: the commit runs in a thread, the loop stays free."""
        return await asyncio.to_thread(self.accept, message)

    # --- processing -----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Two messages (one the KB answers, one that opens a ticket) accepted, claimed and handled in a transaction
        that is rolled back: the first real message after start then waits for no statement's first compilation
        and no first use of the ORM (its desk work took 38 ms, the next ones 14). Nothing of it stays; a desk it
        does not suit (one not seeded yet) only leaves the warm-up undone."""
        worker_log = logging.getLogger("deskbot.worker")
        quiet, worker_log.disabled = worker_log.disabled, True  # these decisions are nobody's
        who = Identity("warm-up", "warm-up@deskbot.invalid")
        now = dt.datetime.now(dt.UTC)
        skipped: Exception | None = None
        try:
            with self.uow.dry_run() as session:
                for i, text in enumerate(WARM_UP_MESSAGES):
                    message = InboundMessage(key=f"warm-up:{i}", sender=who, received_at=now, text=text,
                                             conversation=ConversationRef("warm-up", who.external_id, f"{i}"))
                    [analysis] = self.analyzer.analyze_many([readable_text(message)])
                    with contextlib.suppress(Exception), session.begin_nested():
                        queue.accept_inbound(session=session, key=message.key, channel="warm-up",
                                             payload=message.to_json(), now=now, sender=who.external_id,
                                             conversation=f"warm-up|{who.external_id}|{i}", per_hour=0)
                        # (should it claim an older message than this one, that is rolled back too)
                        claimed = queue.claim_inbound(session=session, worker=self.worker, limit=1, now=now,
                                                      lease=self.settings.lease)
                        row_id = next((r.id for r in claimed if r.key == message.key), 0)
                        handle(self, session, row_id, message, analysis, now)
        except Exception as exc:  # noqa: BLE001 - a warm-up that cannot run costs the first message a few ms, no more
            skipped = exc
        finally:
            worker_log.disabled = quiet
            self.reports.clear()  # it may hold the rolled-back tickets' reports
        if skipped is not None:
            log.debug("desk warm-up skipped: %s", skipped)

    def process_batch(self, *, now: dt.datetime | None = None) -> int:
        """Claim up to ``batch_size`` messages, analyse them together, handle each. Returns how many."""
        claimed = self.claim(now=now)
        return self.handle_batch(self.analyse(claimed)) if claimed is not None else 0

    def claim(self, *, now: dt.datetime | None = None) -> ClaimedBatch | None:
        """Up to ``batch_size`` messages claimed (None: nothing to claim); only the database, no NLP. The serve loop
        claims and handles in one thread, so this never waits for the write lock of its own handling."""
        at = now or dt.datetime.now(dt.UTC)
        with self.uow() as session:
            claimed = [(r.id, r.payload) for r in queue.claim_inbound(
                session=session, worker=self.worker, limit=self.settings.batch_size, now=at,
                lease=self.settings.lease)]
        if not claimed:
            return None
        return ClaimedBatch(rows=[row_id for row_id, _ in claimed],
                            messages=[InboundMessage.from_json(payload) for _, payload in claimed], now=now)

    def analyse(self, batch: ClaimedBatch) -> AnalysedBatch:
        """The batch's texts through the NLP in one pass (the model's forward pass, which leaves the GIL); the serve
        loop analyses the next batch while the desk work of this one runs."""
        messages = batch.messages
        # Agents' actions and the App Home need no reading of the text.
        readable = [i for i, m in enumerate(messages) if m.agent is None and m.action != "home"]
        analyses: list[Analysis | None] = [None] * len(messages)
        try:
            for i, analysis in zip(readable, self.analyzer.analyze_many([readable_text(messages[i])
                                                                          for i in readable]) if readable else ()):
                analyses[i] = analysis
        except Exception as exc:  # noqa: BLE001 - the NLP failing must not lose messages
            log.exception("analysis failed for %d message(s)", len(messages))
            self._fail(batch.rows, f"analysis failed: {exc}", batch.now or dt.datetime.now(dt.UTC))
            return AnalysedBatch(rows=batch.rows, messages=[], analyses=[], now=batch.now)
        return AnalysedBatch(rows=batch.rows, messages=messages, analyses=analyses, now=batch.now)

    def handle_batch(self, batch: AnalysedBatch) -> int:
        """The last stage: the batch's desk work in transactions of ``messages_per_transaction`` messages. In a
        transaction of several, each message is in a savepoint of its own, so one that fails is rolled back alone,
        and should the commit fail, each message is handled again in a transaction of its own. Returns how many
        were claimed."""
        work = list(zip(batch.rows, batch.messages, batch.analyses))
        size = self.settings.messages_per_transaction
        failed: dict[int, str] = {}
        for part in (work[i:i + size] for i in range(0, len(work), size)):
            if len(part) == 1:
                failed |= self._handle_alone(*part[0], batch.now)
                continue
            try:
                failed |= self._handle_together(part, batch.now)
            except Exception:  # noqa: BLE001 - nothing of this part committed: each message on its own
                log.exception("a transaction of %d message(s) did not commit; handling each alone", len(part))
                self.reports.clear()  # it may hold reports of tickets that were rolled back
                for row_id, message, analysis in part:
                    failed |= self._handle_alone(row_id, message, analysis, batch.now)
        # its answer goes out on its own channel (Slack: a DM thread or the DM, the same platform)
        for channel in {m.conversation.channel for row_id, m, _ in work if row_id not in failed}:
            self.replied_on(channel).notify()
            for listener in self.reply_listeners:
                listener(channel)
        return len(batch.rows)

    def _handle_together(self, work: Sequence[tuple[int, InboundMessage, Analysis | None]],
                         now: dt.datetime | None) -> dict[int, str]:
        """``work`` in one transaction, a savepoint a message; the ones that failed (failed in it too), by row."""
        with self.uow() as session:
            failed = {row_id: error for row_id, message, analysis in work
                      if (error := self._handle_one(session, row_id, message, analysis, now)) is not None}
            for row_id, error in failed.items():
                self._fail_in(session, row_id, error, now)
        return failed

    def _handle_alone(self, row_id: int, message: InboundMessage, analysis: Analysis | None,
                      now: dt.datetime | None) -> dict[int, str]:
        """One message in a transaction of its own (no savepoint: what fails is rolled back with it, then the
        message is failed in a second transaction); the error, by row, if it failed."""
        try:
            with self.uow() as session:
                handle(self, session, row_id, message, analysis, now or dt.datetime.now(dt.UTC))
        except Exception as exc:  # noqa: BLE001 - one message failing fails it alone
            log.exception("message %s failed", message.key)
            self.reports.clear()  # it may hold the report of a ticket that was rolled back
            error = f"{type(exc).__name__}: {exc}"
            self._fail([row_id], error, now or dt.datetime.now(dt.UTC))
            return {row_id: error}
        return {}

    def _handle_one(self, session: Session, row_id: int, message: InboundMessage, analysis: Analysis | None,
                    now: dt.datetime | None) -> str | None:
        """One message in a savepoint of the batch's transaction; the error that rolled it back, or None."""
        try:
            with self.uow.savepoint(session):
                handle(self, session, row_id, message, analysis, now or dt.datetime.now(dt.UTC))
        except Exception as exc:  # noqa: BLE001 - one message failing fails it alone
            log.exception("message %s failed", message.key)
            self.reports.clear()  # it may hold the report of a ticket that was rolled back
            return f"{type(exc).__name__}: {exc}"
        return None

    def replied_on(self, channel: str) -> Signal:
        """What wakes ``channel``'s dispatcher: only its own replies (each wake-up is a claim, on SQLite a write
        lock the accepting channels then queue behind)."""
        return self._replied.setdefault(channel, Signal())

    def _fail(self, row_ids: Sequence[int], error: str, now: dt.datetime) -> None:
        with self.uow() as session:
            for row_id in row_ids:
                self._fail_in(session, row_id, error, now)

    def _fail_in(self, session: Session, row_id: int, error: str, now: dt.datetime | None) -> None:
        status = queue.fail_inbound(session=session, row_id=row_id, error=error, now=now or dt.datetime.now(dt.UTC),
                                    max_attempts=self.settings.max_attempts, worker=self.worker)
        if status.value == "failed":
            log.error("inbox message %s parked as failed: %s", row_id, error)

    # --- agents ----------------------------------------------------------------------------------

    def agent_reply(self, *, number: int, username: str, text: str, now: dt.datetime | None = None) -> int:
        """An agent's answer to the requester (``bot.agents.reply``); returns the outbox row id."""
        with self.uow() as session:
            agent = people.get_user(session=session, username=username)
            row = agents.reply(session=session, number=number, by=agents.Actor.of(agent), text=text,
                               now=now or dt.datetime.now(dt.UTC))
            assert row is not None  # no key: always a new answer
            return row.id

    # --- periodic work -------------------------------------------------------------------------

    def expire_confirmations(self, *, now: dt.datetime | None = None) -> int:
        """KB answers nobody confirmed within the window: closed as potential deflection."""
        now = now or dt.datetime.now(dt.UTC)
        with self.uow() as session:
            stale = conversations.awaiting_confirmation_before(session=session,
                                                               before=now - self.settings.confirmation_window)
            for conversation in stale:
                ticket = conversation.ticket
                if ticket is not None and ticket.status in ACTIVE_STATUSES:
                    tickets.resolve(session=session, number=ticket.number, actor="bot",
                                    resolution_code=ResolutionCode.POTENTIAL_DEFLECTION, now=now)
                conversations.stop_waiting(session=session, conversation=conversation)
            return len(stale)

    def sync_kb(self) -> bool:
        """The KB index brought up to the desk's published articles (``bot.knowledge.sync_index``)."""
        from bot.knowledge import sync_index

        return sync_index(uow=self.uow, analyzer=self.analyzer)

    def scan_sla(self, *, now: dt.datetime | None = None) -> int:
        """Record new SLA warnings and breaches (their notices come from the desk's ``SlaAlert`` events, in the
        same transaction)."""
        now = now or dt.datetime.now(dt.UTC)
        with self.uow() as session:
            return len(sla.scan(session=session, now=now))
