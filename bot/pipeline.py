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
from bot.conversation import ArticleLink, Button, ConversationRef, DropAttachments, InboundMessage, Reply
from bot import agents
from bot.agents import AgentDesk
from bot.notify import MajorIncidentNotice, Notifier, SlaNotice, TicketNotice
from bot.policy import Action, Decision, Reading, State, Thresholds, decide, labels
from bot.worker_settings import BotSettings
from desk import AuthorKind, Direction, Level, ResolutionCode, Status, TicketType, UnitOfWork
from desk import conversations, people, queue, routing, sla, tickets
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
        act = _Act(self, session, message, analysis, conversation, requester.id, decision, now)
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


class _Act:
    """Carries out one decision on the desk and writes the replies."""

    def __init__(self, pipeline: Pipeline, session: Session, message: InboundMessage, analysis: Analysis,
                 conversation: Conversation, requester_id: int, decision: Decision, now: dt.datetime):
        self.p, self.s, self.m, self.a = pipeline, session, message, analysis
        self.c, self.requester_id, self.d, self.now = conversation, requester_id, decision, now

    def run(self) -> list[Reply]:
        handler = getattr(self, f"_{self.d.action.value}")
        return handler()

    # smalltalk and status

    def _greet(self) -> list[Reply]:
        return [Reply("Hello! I'm the IT service desk assistant. Tell me what is not working, or ask me about "
                      "your tickets.")]

    def _thank(self) -> list[Reply]:
        return [Reply("You're welcome! Write any time if something else comes up.")]

    def _ticket_status(self) -> list[Reply]:
        mine = tickets.open_tickets_of(session=self.s, requester_id=self.requester_id)
        if not mine:
            return [Reply("You have no open tickets.")]
        lines = ["Your open tickets:"]
        for t in mine:
            lines.append(f"{t.ref} {t.subject} ({t.status.value}, {t.group.name if t.group else 'service desk'}, "
                         f"{t.priority.value}, via {t.channel}){self._eta(t)}")
        return [Reply("\n".join(lines))]

    # tickets

    def _open(self, *, ticket_type: TicketType | None, intent: str | None, auto_assign: bool = True) -> Ticket:
        rule = routing.rule_for(session=self.s, intent=intent)
        base = rule.urgency if rule else int(Level.MEDIUM)
        urgency = Level(max(1, base - self.d.urgency_raise))
        text = self.m.text.strip()
        subject = self.m.subject or (text.splitlines()[0] if text else "(no text)")
        ticket = tickets.open_ticket(
            session=self.s, requester_id=self.requester_id, subject=subject[:120], description=text,
            channel=self.m.conversation.channel, actor="bot", ticket_type=ticket_type, intent=intent,
            impact=Level(self.d.impact or 3), urgency=urgency, auto_assign=auto_assign, now=self.now,
        )
        conversations.attach_ticket(session=self.s, conversation=self.c, ticket=ticket)
        return ticket

    def _notify(self, ticket: Ticket) -> None:
        self.s.flush()
        a = self.a
        if self.d.action is Action.NOT_SOLVED:  # the message is a "no": read the ticket's own text instead
            a = self.p.analyzer.analyze_many([ticket.description or ticket.subject])[0]
        hits = a.kb_hits[:3]
        due = []
        if ticket.first_response_due and ticket.first_response_at is None:
            due.append(f"first response by {ticket.first_response_due:%a %d %b %H:%M} UTC")
        if ticket.resolution_due:
            due.append(f"resolution by {ticket.resolution_due:%a %d %b %H:%M} UTC")
        analysis = (f"intent {a.intent} {a.confidence:.2f}{' (out of scope)' if a.out_of_scope else ''}, "
                    f"sentiment {a.sentiment}, frustration {a.frustration:.2f}, language {a.language}")
        self.p.notifier.new_ticket(self.s, TicketNotice(
            key=f"{self.m.key}:notice:{ticket.number}", ticket_id=ticket.id, ticket_number=ticket.number,
            group=ticket.group.name if ticket.group else None, priority=ticket.priority.value, subject=ticket.subject,
            reasons=self.d.explain(), suggested_articles=tuple(f"{h.article_id} {h.title}" for h in hits),
            articles=tuple(ArticleLink(h.article_id, h.title, f"{self.p.settings.kb_url}/{h.article_id}") for h in hits),
            requester=ticket.requester.display_name if ticket.requester else "", channel=ticket.channel,
            due="; ".join(due), analysis=analysis,
            tried_article=self.d.article_id if self.d.action is Action.NOT_SOLVED else None, assignee=ticket.assignee.display_name if ticket.assignee else None,
        ), self.now)

    def _eta(self, ticket: Ticket) -> str:
        due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
        if due is None or not ticket.status.is_active:
            return ""
        tz = ticket.group.timezone if ticket.group else "UTC"
        from zoneinfo import ZoneInfo

        local = due.astimezone(ZoneInfo(tz))
        what = "a first answer" if ticket.first_response_at is None else "a resolution"
        return f"; expect {what} by {local:%a %d %b, %H:%M} ({tz}, business hours)"

    def _ticket_reply(self, ticket: Ticket, opening: str) -> Reply:
        group = ticket.group.name if ticket.group else "the service desk"
        return Reply(f"{opening} Ticket {ticket.ref} is with {group} (priority {ticket.priority.value})"
                     f"{self._eta(ticket)}.", ticket_ref=ticket.ref)

    def _major_incident(self, ticket: Ticket) -> Reply | None:
        """N incidents of one intent from different people within T minutes: one problem links them."""
        s, settings = self.s, self.p.settings
        if ticket.type is not TicketType.INCIDENT or ticket.intent in (None, "oos", "human_agent"):
            return None
        problem = tickets.active_problem_for(session=s, intent=ticket.intent)
        if problem is None:
            others = [t for t in tickets.recent_unlinked_incidents(session=s, since=self.now - settings.major_incident_window)
                      if t.id != ticket.id]
            similarity = self.p.analyzer.similarities(ticket.description or ticket.subject,
                                                      [t.description or t.subject for t in others])
            recent = [ticket] + [t for t, sim in zip(others, similarity)
                                 if t.intent == ticket.intent or sim >= settings.major_incident_similarity]
            if len({t.requester_id for t in recent}) < settings.major_incident_count:
                return None
            problem = tickets.open_ticket(
                session=s, requester_id=ticket.requester_id, subject=f"Major incident: {ticket.intent} reported by "
                f"{len(recent)} people", channel="bot", actor="bot", ticket_type=TicketType.PROBLEM,
                intent=ticket.intent, impact=Level.HIGH, urgency=Level.HIGH, now=self.now)
            for incident in sorted(recent, key=lambda t: t.id):
                tickets.link_to_problem(session=s, number=incident.number, problem_number=problem.number, actor="bot")
            self.p.notifier.major_incident(self.s, MajorIncidentNotice(
                f"{self.m.key}:major:{problem.number}", problem.number, problem.group.name if problem.group else None,
                tuple(t.number for t in sorted(recent, key=lambda t: t.id))), self.now)
            return None  # the reporter who tipped it over gets the normal reply; later ones hear it is known
        tickets.link_to_problem(session=s, number=ticket.number, problem_number=problem.number, actor="bot")
        return Reply(f"This looks like a known issue that IT is already working on ({problem.ref}). Your report "
                     f"is linked to it and you will hear when it is fixed.", ticket_ref=ticket.ref)

    def _open_ticket(self) -> list[Reply]:
        ticket = self._open(ticket_type=self.d.ticket_type, intent=self.d.intent)
        self._notify(ticket)
        replies = [self._ticket_reply(ticket, "Thanks, I've passed this to a person.")]
        known = self._major_incident(ticket)
        if known:
            replies.append(known)
        return replies

    def _handoff(self) -> list[Reply]:
        ticket = self._open(ticket_type=TicketType.INCIDENT, intent=None)
        self._notify(ticket)
        return [self._ticket_reply(ticket, "Sure, a person from IT will take it from here.")]

    def _security_incident(self) -> list[Reply]:
        ticket = self._open(ticket_type=TicketType.INCIDENT, intent=self.d.intent)
        self._notify(ticket)
        article = self._article_for_intent(self.d.intent)
        steps = f"\n\nDo this now:\n{article.steps}" if article else ""
        links = (ArticleLink(article.id, article.title, f"{self.p.settings.kb_url}/{article.id}"),) if article else ()
        return [Reply(f"I've opened security incident {ticket.ref} with high urgency; the Security team has it "
                      f"(priority {ticket.priority.value}){self._eta(ticket)}.{steps}", ticket_ref=ticket.ref,
                      articles=links)]

    def _article_for_intent(self, intent: str | None):  # noqa: ANN202
        articles = self.p.analyzer.kb.articles
        language = self.a.language
        matches = [a for a in articles.values() if intent in a.intents]
        return next((a for a in matches if a.lang == language), None) or next(iter(matches), None)

    def _answer_from_kb(self) -> list[Reply]:
        article = self.p.analyzer.kb.articles[self.d.article_id]
        ticket = self._open(ticket_type=None, intent=self.d.intent, auto_assign=False)
        tickets.change_status(session=self.s, number=ticket.number, status=Status.PENDING, actor="bot", now=self.now)
        tickets.record_first_response(session=self.s, ticket=ticket, actor="bot", now=self.now)  # the article is it
        tickets.set_tags(session=self.s, ticket=ticket, tags=["kb-answer", article.canonical_id], actor="bot", now=self.now)
        conversations.await_confirmation(session=self.s, conversation=self.c, article_id=article.id, now=self.now)
        french = article.lang == "fr"
        question = "Est-ce que cela a résolu le problème ?" if french else "Did this solve it?"
        return [Reply(f"{article.title}\n\n{article.steps}\n\n{question}",
                      buttons=(Button("Oui, résolu" if french else "Yes, solved", "yes"),
                               Button("Non" if french else "No", "no")),
                      articles=(ArticleLink(article.id, article.title, f"{self.p.settings.kb_url}/{article.id}"),))]

    def _confirmed_solved(self) -> list[Reply]:
        ticket = self.c.ticket
        if ticket is not None and ticket.status in ACTIVE_STATUSES:
            tickets.resolve(session=self.s, number=ticket.number, actor="requester",
                            resolution_code=ResolutionCode.SELF_SERVICE, now=self.now)
        conversations.stop_waiting(session=self.s, conversation=self.c)
        return [Reply("Great, glad that solved it! I've closed the request.")]

    def _not_solved(self) -> list[Reply]:
        ticket = self.c.ticket
        conversations.stop_waiting(session=self.s, conversation=self.c)
        if ticket is None or not ticket.status.is_active:
            ticket = self._open(ticket_type=None, intent=self.d.intent)
        else:
            self._escalate(ticket)
        tickets.add_message(session=self.s, idempotency_key=f"{self.m.key}:tried", ticket=ticket, conversation=self.c,
                            direction=Direction.NOTE, author_kind=AuthorKind.BOT, channel="bot",
                            text=f"self-service article tried without success: {self.d.article_id}", now=self.now)
        self._notify(ticket)
        return [self._ticket_reply(ticket, "Sorry it didn't help. I've passed it to a person, with the article "
                                           "you tried.")]

    def _escalate(self, ticket: Ticket) -> None:
        if ticket.status is Status.PENDING:
            tickets.change_status(session=self.s, number=ticket.number, status=Status.OPEN, actor="bot", now=self.now)
        if ticket.assignee is None and ticket.group is not None:
            agent = routing.least_loaded_agent(session=self.s, group=ticket.group)
            if agent is not None:
                tickets.assign(session=self.s, number=ticket.number, username=agent.username, actor="bot", now=self.now)

    def _follow_up(self) -> list[Reply]:
        ticket = self.c.ticket
        assert ticket is not None
        if self.c.awaiting is ConversationWait.CONFIRMATION:  # an answer that is neither yes nor no
            return self._not_solved()
        if ticket.status is Status.PENDING:
            tickets.change_status(session=self.s, number=ticket.number, status=Status.OPEN, actor="requester",
                                  now=self.now)
        return [Reply(f"Thanks, I've added that to ticket {ticket.ref}.", ticket_ref=ticket.ref)]

    def _resolved_by_requester(self) -> list[Reply]:
        ticket = self.c.ticket
        assert ticket is not None
        tickets.resolve(session=self.s, number=ticket.number, actor="requester",
                        resolution_code=ResolutionCode.REQUESTER, now=self.now)
        return [Reply(f"Good to hear it works now. I've resolved ticket {ticket.ref}; write here within "
                      f"{self.p.settings.reopen_window.days} days if it comes back.", ticket_ref=ticket.ref)]

    def _reopen(self) -> list[Reply]:
        ticket = self.c.ticket
        assert ticket is not None
        tickets.change_status(session=self.s, number=ticket.number, status=Status.OPEN, actor="requester",
                              reopen_window=self.p.settings.reopen_window, now=self.now)
        self._escalate(ticket)
        return [Reply(f"I've reopened ticket {ticket.ref} and added your message.", ticket_ref=ticket.ref)]

    def _clarify(self) -> list[Reply]:
        conversations.await_clarification(session=self.s, conversation=self.c)
        if self.a.out_of_scope:
            return [Reply("I'm the IT service desk assistant: accounts, devices, software, network, email and "
                          "security. Is this about an IT problem? Tell me a bit more (which system, what you see), "
                          "and I'll pass it on if I can't solve it.")]
        return [Reply("Could you tell me a bit more: which system or device is affected, and what exactly do you "
                      "see (an error message helps)?")]


def _sent_into(cited: OutboxRow | None, conversation: Conversation) -> bool:
    return cited is not None and (cited.channel, cited.address, cited.thread) == (
        conversation.channel, conversation.address, conversation.thread)


def _claimed_identity(external_id: str, thread: str) -> str:
    """The identity of an unverified sender in one conversation: the same claimed address in another thread is
    another identity, so it sees nothing of this one (and nothing of the address's real owner)."""
    return f"{external_id}#{hashlib.sha256(thread.encode()).hexdigest()[:16]}"


__all__ = ["BotSettings", "Pipeline"]
