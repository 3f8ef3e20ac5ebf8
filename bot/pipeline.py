"""The worker's pipeline: claim inbox rows, analyse them in one batch, decide, act, queue the replies.

Each message is handled in one transaction: its desk changes, its reply rows in the outbox
and the inbox row's "done" commit together, or not at all (then it is retried).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.attachments import Refused, screen, without_refused
from bot.conversation import ConversationRef, DropAttachments, InboundMessage, Reply
from bot import agents
from bot.agents import AgentDesk
from bot.notify import Notifier, SlaNotice
from bot.policy import Action, Reading, State, Thresholds, decide, labels
from bot.handlers import DecisionHandler
from bot.worker_settings import BotSettings
from desk import AuthorKind, Direction, ResolutionCode, Status, UnitOfWork
from desk import conversations, people, queue, sla, tickets
from desk.domain import ACTIVE_STATUSES, ConversationWait, NotFound
from desk.tickets import NewAttachment

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desk.models import Conversation, OutboxRow, Requester, Ticket
    from nlp import Analysis, Analyzer

log = logging.getLogger("deskbot.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Pipeline:
    def __init__(self, *, uow: UnitOfWork, analyzer: Analyzer, notifier: Notifier, settings: BotSettings,
                 worker: str | None = None, drop_from_raw: Mapping[str, DropAttachments] | None = None):
        self.uow = uow
        self.drop_from_raw = dict(drop_from_raw or {})  # per channel: refused attachments out of its raw payload
        self.analyzer = analyzer
        self.notifier = notifier
        self.settings = settings
        self.worker = worker or worker_name()
        self.agents = AgentDesk(reply_prefix=settings.reply_prefix, kb_url=settings.kb_url,
                                articles=lambda: self.analyzer.kb.articles, intents=labels())

    # --- accepting ------------------------------------------------------------------------

    def accept(self, message: InboundMessage) -> bool:
        """Commit an inbound message to the inbox; False if it was delivered before."""
        with self.uow() as session:
            ref = message.conversation
            return queue.accept_inbound(session=session, key=message.key, channel=ref.channel,
                                        payload=message.to_json(), now=message.received_at,
                                        conversation=f"{ref.channel}|{ref.address}|{ref.thread}",
                                        sender=message.sender.external_id,
                                        per_hour=self.settings.inbound_per_hour.get(ref.channel, 0)) is not None

    async def receive(self, message: InboundMessage) -> bool:
        """``accept`` for a channel's event loop: the commit runs in a thread, the loop stays free."""
        return await asyncio.to_thread(self.accept, message)

    # --- processing -----------------------------------------------------------------------------

    def process_batch(self, *, now: dt.datetime | None = None) -> int:
        """Claim up to ``batch_size`` messages, analyse them together, handle each. Returns how many."""
        now = now or dt.datetime.now(dt.UTC)
        with self.uow() as session:
            claimed = [(r.id, r.payload) for r in queue.claim_inbound(
                session=session, worker=self.worker, limit=self.settings.batch_size, now=now,
                lease=self.settings.lease)]
        if not claimed:
            return 0
        messages = [InboundMessage.from_json(payload) for _, payload in claimed]
        # Agents' actions and the App Home need no reading of the text.
        readable = [i for i, m in enumerate(messages) if m.agent is None and m.action != "home"]
        analyses: list[Analysis | None] = [None] * len(messages)
        try:
            for i, analysis in zip(readable, self.analyzer.analyze_many([messages[i].text or messages[i].subject
                                                                          for i in readable]) if readable else ()):
                analyses[i] = analysis
        except Exception as exc:  # noqa: BLE001 - the NLP failing must not lose messages
            log.exception("analysis failed for %d message(s)", len(messages))
            self._fail([row_id for row_id, _ in claimed], f"analysis failed: {exc}", now)
            return len(claimed)
        for (row_id, _), message, analysis in zip(claimed, messages, analyses):
            try:
                with self.uow() as session:
                    self._handle(session, row_id, message, analysis, now)
            except Exception as exc:  # noqa: BLE001
                log.exception("message %s failed", message.key)
                self._fail([row_id], f"{type(exc).__name__}: {exc}", now)
        return len(claimed)

    def _fail(self, row_ids: Sequence[int], error: str, now: dt.datetime) -> None:
        with self.uow() as session:
            for row_id in row_ids:
                status = queue.fail_inbound(session=session, row_id=row_id, error=error, now=now,
                                            max_attempts=self.settings.max_attempts)
                if status.value == "failed":
                    log.error("inbox message %s parked as failed: %s", row_id, error)

    def _complete(self, session: Session, row_id: int, now: dt.datetime) -> None:
        if not queue.complete_inbound(session=session, row_id=row_id, worker=self.worker, now=now):
            raise RuntimeError("lease lost: another worker reclaimed this message")

    def _handled_apart(self, session: Session, message: InboundMessage, now: dt.datetime) -> bool:
        """Agents' actions, messages in a ticket's agent thread, the App Home, and overheard messages
        in threads the bot does not know. True when the message needs nothing more."""
        ref = message.conversation
        if message.action == "home":
            self._home(session, message, now)
            return True
        thread_ticket = conversations.ticket_of_agent_thread(session=session, channel=ref.channel, address=ref.address,
                                                             thread=ref.thread)
        if message.agent is not None or thread_ticket is not None:
            self.agents.handle(session, message, thread_ticket, now)
            return True
        if message.overheard or message.action is not None:
            known = conversations.find(session=session, channel=ref.channel, address=ref.address, thread=ref.thread)
            if known is None:
                if message.overheard:
                    log.debug("%s: overheard in a thread the bot does not know; dropped", message.key)
                return message.overheard
            sender = message.sender
            requester = people.resolve_requester(session=session, channel=sender.channel, external_id=sender.external_id,
                                                 display_name=sender.display_name, email=sender.email,
                                                 email_verified=sender.email_verified)
            if requester.id != known.requester_id:
                # A colleague chiming in on someone else's request, or clicking its "Yes, solved": not theirs.
                log.info("%s: from someone else than the conversation's requester; dropped", message.key)
                return True
        return False

    def _home(self, session: Session, message: InboundMessage, now: dt.datetime) -> None:
        """The requester's open tickets with status and SLA, for a channel's home view (Slack's App Home)."""
        sender = message.sender
        requester = people.resolve_requester(session=session, channel=sender.channel, external_id=sender.external_id,
                                             display_name=sender.display_name, email=sender.email,
                                             email_verified=sender.email_verified)
        lines = []
        for t in tickets.open_tickets_of(session=session, requester_id=requester.id):
            due = t.first_response_due if t.first_response_at is None else t.resolution_due
            sla_text = f"SLA {t.sla_state.value}" + (f", due {due:%a %d %b %H:%M} UTC" if due else "")
            lines.append(f"*{t.ref}* {t.subject} ({t.status.value}, {t.priority.value}, "
                         f"{t.group.name if t.group else 'service desk'}; {sla_text})")
        text = ("*Your open IT tickets*\n" + "\n".join(lines)) if lines else "You have no open IT tickets."
        ref = message.conversation
        queue.enqueue_outbound(session=session, key=f"{message.key}:home", channel=ref.channel, address=ref.address,
                               thread=ref.thread, payload=Reply(text).to_json(), now=now)

    def _handle(self, session: Session, row_id: int, message: InboundMessage, analysis: Analysis | None,
                now: dt.datetime) -> None:
        if (message.agent is not None or message.overheard or message.action is not None
                or message.conversation.thread):
            if self._handled_apart(session, message, now):
                self._complete(session, row_id, now)
                return
        assert analysis is not None
        kept, refused = screen(message.attachments, refused_types=self.settings.refused_attachment_types,
                               max_bytes=self.settings.max_attachment_bytes)
        if refused:  # the refused files' bytes leave the stored message in this transaction
            stored = without_refused(message, refused, drop_from_raw=self.drop_from_raw.get(message.conversation.channel))
            queue.replace_inbound_payload(session=session, row_id=row_id, payload=stored.to_json())
        files = [NewAttachment(a.filename, a.content_type, a.content) for a in kept]
        cited = queue.sent_message(session=session, channel=message.conversation.channel, native_ids=message.cites)
        if message.automated:  # an out-of-office, a bounce, a list: kept, never answered
            self._store_automated(session, message, cited, files, refused, now)
            self._complete(session, row_id, now)
            return
        requester, conversation = self._place(session, message, cited)
        if conversation.ticket is None and message.ticket_hint is not None:
            self._join_named_ticket(session, conversation, message, requester.id)
        state = self._state(session, conversation, now)
        hit = analysis.kb_hits[0] if analysis.kb_hits else None
        reading = Reading(
            text=message.text, intent=analysis.intent, confidence=analysis.confidence,
            out_of_scope=analysis.out_of_scope, frustrated=analysis.frustrated, frustration=analysis.frustration,
            top_article=hit.article_id if hit else None, top_article_score=hit.score if hit else 0.0,
            action=message.action,
        )
        thresholds = Thresholds(
            answer_confidence=self.settings.answer_threshold or analysis.answer_threshold,
            retrieval=self.settings.retrieval_threshold,
        )
        decision = decide(reading, state, thresholds)
        act = DecisionHandler(self, session, message, analysis, conversation, requester.id, decision, now)
        replies = act.run()
        tickets.add_message(
            session=session, idempotency_key=message.key, ticket=conversation.ticket, conversation=conversation,
            direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, channel=message.conversation.channel,
            text=message.text, attachments=files, max_attachment_bytes=self.settings.max_attachment_bytes, now=now,
        )
        self._note_refused(session, message, conversation.ticket, conversation, refused, now)
        if refused and replies:  # the requester hears that the file did not arrive, and why
            names = "; ".join(f"{r.attachment.filename} ({r.reason})" for r in refused)
            replies[0] = replace(replies[0], text=f"{replies[0].text}\n\nI could not keep your attachment"
                                 f"{'s' if len(refused) > 1 else ''}: {names}. Your message itself was received.")
        if conversation.ticket is not None:
            tickets.add_message(session=session, idempotency_key=f"{message.key}:decision", ticket=conversation.ticket,
                                conversation=conversation, direction=Direction.NOTE, author_kind=AuthorKind.BOT,
                                channel="bot", text=f"decision {decision.action.value}: {decision.explain()}", now=now)
        # Replies keep the conversation's subject (email: "Re: <the mail's subject> [#1042]").
        subject = message.subject or (conversation.ticket.subject if conversation.ticket else "")
        replies = [r if r.subject else replace(r, subject=subject) for r in replies]
        replies = self._within_reply_limit(session, message, conversation, replies, now)
        to = ConversationRef(conversation.channel, conversation.address, conversation.thread)
        if decision.action is Action.TICKET_STATUS and message.private_ref is not None:
            to = message.private_ref  # a list of the sender's tickets never goes where others read it
        for i, reply in enumerate(replies):
            key = f"{message.key}:reply:{i}"
            tickets.add_message(session=session, idempotency_key=key, ticket=conversation.ticket,
                                conversation=conversation, direction=Direction.OUTBOUND, author_kind=AuthorKind.BOT,
                                channel=message.conversation.channel, text=reply.as_plain_text(), now=now)
            queue.enqueue_outbound(session=session, key=key, channel=to.channel, address=to.address, thread=to.thread,
                                   payload=reply.to_json(), now=now,
                                   ticket_id=conversation.ticket.id if conversation.ticket else None)
        if not queue.complete_inbound(session=session, row_id=row_id, worker=self.worker, now=now):
            raise RuntimeError("lease lost: another worker reclaimed this message")
        log.info("%s -> %s (%s)", message.key, decision.action.value, decision.explain())

    def _within_reply_limit(self, session: Session, message: InboundMessage, conversation: Conversation,
                            replies: list[Reply], now: dt.datetime) -> list[Reply]:
        """The replies this address may still get this hour; the others become a note on the ticket."""
        ref = conversation
        limit = self.settings.replies_per_hour.get(ref.channel)
        if limit is None or not replies:
            return replies
        people.lock_requester(session=session, requester_id=conversation.requester_id)  # several workers: one count
        sent = conversations.bot_replies_since(session=session, channel=ref.channel, address=ref.address,
                                               since=now - dt.timedelta(hours=1))
        allowed = max(0, limit - sent)
        if len(replies) <= allowed:
            return replies
        held = replies[allowed:]
        text = (f"Automatic reply to {ref.address} not sent: {sent} bot replies to this address in the last hour, "
                f"the limit is {limit} (a mail loop with an autoresponder?). It said: "
                + " | ".join(r.as_plain_text() for r in held))
        tickets.add_message(session=session, idempotency_key=f"{message.key}:reply-limit", ticket=conversation.ticket,
                            conversation=conversation, direction=Direction.NOTE, author_kind=AuthorKind.BOT,
                            channel="bot", text=text, now=now)
        log.warning("%s: %d reply(ies) to %s held back: %d sent in the last hour (limit %d)", message.key, len(held),
                    ref.address, sent, limit)
        return replies[:allowed]

    def _note_refused(self, session: Session, message: InboundMessage, ticket: Ticket | None,
                      conversation: Conversation | None, refused: list[Refused], now: dt.datetime) -> None:
        if not refused:
            return
        text = "\n".join(f"Attachment not kept: {r.describe()}" for r in refused)
        tickets.add_message(session=session, idempotency_key=f"{message.key}:refused-attachments",
                            ticket=ticket, conversation=conversation, direction=Direction.NOTE,
                            author_kind=AuthorKind.BOT, channel="bot", text=text, now=now)
        log.warning("%s: %s", message.key, text.replace("\n", "; "))

    def _join_named_ticket(self, session: Session, conversation: Conversation, message: InboundMessage,
                           requester_id: int) -> None:
        """A message naming a ticket ("[#1042]") joins it only when it comes from that ticket's own, verified
        requester: a number is easy to guess, so from anyone else it opens a ticket of their own."""
        if not message.sender.email_verified:
            return
        try:
            ticket = tickets.get_ticket(session=session, number=message.ticket_hint)
        except NotFound:
            return
        if ticket.requester_id == requester_id:
            conversations.attach_ticket(session=session, conversation=conversation, ticket=ticket)

    def _place(self, session: Session, message: InboundMessage, cited: OutboxRow | None,
               ) -> tuple[Requester, Conversation]:
        """Who wrote, and in which conversation.

        A thread a message names is joined only by that conversation's requester, or by a message citing one
        we sent into it (an unguessable Message-ID: proof its sender received our mail). Anything else is handled
        in a conversation of the sender's own (their private one, or the mail's own thread). A sender
        the platform does not vouch for is a requester of that one conversation only: a claimed address
        never opens anyone's history.
        """
        ref, sender = message.conversation, message.sender
        requester = people.resolve_requester(
            session=session, channel=sender.channel, external_id=sender.external_id, display_name=sender.display_name,
            email=sender.email, email_verified=sender.email_verified) if sender.authenticated else None
        existing = conversations.find(session=session, channel=ref.channel, address=ref.address, thread=ref.thread)
        elsewhere = message.private_ref or (replace(ref, thread=message.native_id) if message.native_id else None)
        if existing is not None and elsewhere is not None and not (
                (requester is not None and existing.requester_id == requester.id) or _sent_into(cited, existing)):
            # Someone else's conversation (a spoofed From with their References, a colleague's mention in their
            # Slack thread): handled where this sender is alone, so it neither reads nor changes that ticket.
            log.info("%s: in a conversation that is not the sender's; handled in one of their own", message.key)
            ref = elsewhere
            existing = conversations.find(session=session, channel=ref.channel, address=ref.address, thread=ref.thread)
        if requester is None:
            requester = existing.requester if existing is not None else people.resolve_requester(
                session=session, channel=sender.channel, external_id=_claimed_identity(sender.external_id, ref.thread),
                display_name=sender.display_name, email=sender.email, email_verified=False)
        conversation = existing or conversations.get_or_create(
            session=session, channel=ref.channel, address=ref.address, thread=ref.thread, requester_id=requester.id)
        return requester, conversation

    def _store_automated(self, session: Session, message: InboundMessage, cited: OutboxRow | None,
                         files: list[NewAttachment], refused: list[Refused], now: dt.datetime) -> None:
        """A machine's mail joins a ticket only as a note, and only when it reports on a message we sent (a bounce,
        an out-of-office to our reply); anything else is kept on its own, in no conversation and no ticket."""
        ticket = tickets.get_ticket_by_id(session=session, ticket_id=cited.ticket_id) if cited and cited.ticket_id else None
        text = f"Automatic mail from {message.conversation.address} ({message.automated}):\n{message.text}"
        tickets.add_message(session=session, idempotency_key=message.key, ticket=ticket, conversation=None,
                            direction=Direction.NOTE if ticket else Direction.INBOUND, author_kind=AuthorKind.SYSTEM,
                            channel=message.conversation.channel, text=text, attachments=files,
                            max_attachment_bytes=self.settings.max_attachment_bytes, now=now)
        self._note_refused(session, message, ticket, None, refused, now)
        log.info("%s stored without a reply (%s)%s", message.key, message.automated,
                 f", as a note on {ticket.ref}" if ticket else "")

    def _state(self, session: Session, conversation: Conversation, now: dt.datetime) -> State:
        ticket = conversation.ticket
        open_ticket = ticket.number if ticket is not None and ticket.status in ACTIVE_STATUSES else None
        resolved = None
        if (ticket is not None and ticket.status is Status.RESOLVED and ticket.resolved_at is not None
                and now - ticket.resolved_at <= self.settings.reopen_window
                and ticket.resolution_code not in (ResolutionCode.SELF_SERVICE, ResolutionCode.POTENTIAL_DEFLECTION)):
            resolved = ticket.number
        return State(open_ticket=open_ticket, resolved_ticket=resolved,
                     awaiting_confirmation=conversation.awaiting is ConversationWait.CONFIRMATION,
                     offered_article=conversation.offered_article, clarifications=conversation.clarifications)

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

    def scan_sla(self, *, now: dt.datetime | None = None) -> int:
        """Record new SLA warnings and breaches and queue their notices, in one transaction."""
        now = now or dt.datetime.now(dt.UTC)
        with self.uow() as session:
            alerts = sla.scan(session=session, now=now)
            for a in alerts:
                ticket = tickets.get_ticket(session=session, number=a.ticket_number)
                self.notifier.sla(session, SlaNotice(
                    ticket_id=a.ticket_id, ticket_number=a.ticket_number, group=a.group, assignee=a.assignee,
                    kind=a.kind.value, level=a.level.value, due=a.due.strftime("%Y-%m-%d %H:%M UTC"),
                    assignee_email=ticket.assignee.email if ticket.assignee else None), now)
        return len(alerts)


def _sent_into(cited: OutboxRow | None, conversation: Conversation) -> bool:
    return cited is not None and (cited.channel, cited.address, cited.thread) == (
        conversation.channel, conversation.address, conversation.thread)


def _claimed_identity(external_id: str, thread: str) -> str:
    """The identity of an unverified sender in one conversation: the same claimed address in another thread is
    another identity, so it sees nothing of this one (and nothing of the address's real owner)."""
    return f"{external_id}#{hashlib.sha256(thread.encode()).hexdigest()[:16]}"


__all__ = ["BotSettings", "Pipeline"]
