"""One claimed message, inside its transaction: who wrote and in which conversation, what the policy reads of
the conversation, the decision carried out (``bot.worker._handlers``), the message and the replies stored, the
replies queued within the address's hourly limit, the inbox row marked done. Agents' actions, the App Home and
overheard messages are handled apart; machines' mail is stored and never answered."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.attachments import Refused, screen, without_refused
from bot.conversation import ConversationRef, InboundMessage, Reply
from bot.policy import Action, State, decide, reading_of, thresholds_for
from bot.worker import _wording as say
from bot.worker._handlers import Turn, carry_out
from desk import AuthorKind, Direction, ResolutionCode, Status
from desk import conversations, knowledge, people, queue, tickets
from desk.domain import ACTIVE_STATUSES, ConversationWait, NotFound
from desk.tickets import NewAttachment

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.worker._pipeline import Pipeline
    from desk.models import Conversation, OutboxRow, Requester, Ticket
    from nlp import Analysis

log = logging.getLogger("deskbot.worker")
# The decisions on a new request the KB could have answered: with no article at the retrieval threshold, the
# message is a gap an editor should fill (greetings, follow-ups and "did this solve it?" answers are none).
_READS_THE_KB = frozenset({Action.OPEN_TICKET, Action.CLARIFY})
_QUESTIONS = frozenset({ConversationWait.SECURITY_ANSWER, ConversationWait.NEW_PROBLEM_ANSWER})
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|tr|aw|wg)\s*:\s*)+", re.IGNORECASE)
_TICKET_TAG = re.compile(r"\[#\d+\]")
_LINK = re.compile(r"https?://", re.IGNORECASE)
_FORWARDED = re.compile(r"(?<!-)-{2,}\s*(forwarded message|message transféré)\s*-{2,}|^begin forwarded message:",
                        re.IGNORECASE | re.MULTILINE)


def readable_text(message: InboundMessage) -> str:
    """What the NLP reads of a message: its subject (a mail's, without "Re:"/"Fwd:" and the ticket tag) with its
    new text, since a mail's subject often names the problem its body only describes."""
    subject = _TICKET_TAG.sub("", _REPLY_PREFIX.sub("", message.subject or "")).strip()
    text = message.text.strip()
    if not subject or subject.lower() in text.lower():
        return text or subject
    return f"{subject}\n{text}" if text else subject


def forwarded_evidence(message: InboundMessage) -> bool:
    """A forwarded mail (attached, or inline) that carries links or attachments: what a phishing report is."""
    attached = any(a.content_type == "message/rfc822" for a in message.attachments)
    inline = bool(_FORWARDED.search(message.text))
    return attached or (inline and (bool(_LINK.search(message.text)) or bool(message.attachments)))


def _complete(p: Pipeline, session: Session, row_id: int, now: dt.datetime) -> None:
    if not queue.complete_inbound(session=session, row_id=row_id, worker=p.worker, now=now):
        raise RuntimeError("lease lost: another worker reclaimed this message")


def _handled_apart(p: Pipeline, session: Session, message: InboundMessage, now: dt.datetime) -> bool:
    """Agents' actions, messages in a ticket's agent thread, the App Home, and overheard messages
    in threads the bot does not know. True when the message needs nothing more."""
    ref = message.conversation
    if message.action == "home":
        _home(session, message, now)
        return True
    thread_ticket = conversations.ticket_of_agent_thread(session=session, channel=ref.channel, address=ref.address,
                                                         thread=ref.thread)
    if message.agent is not None or thread_ticket is not None:
        p.agents.handle(session, message, thread_ticket, now)
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


def _home(session: Session, message: InboundMessage, now: dt.datetime) -> None:
    """The requester's open tickets, for a channel's home view (Slack's App Home)."""
    sender = message.sender
    requester = people.resolve_requester(session=session, channel=sender.channel, external_id=sender.external_id,
                                         display_name=sender.display_name, email=sender.email,
                                         email_verified=sender.email_verified)
    ref = message.conversation
    queue.enqueue_outbound(session=session, key=f"{message.key}:home", channel=ref.channel, address=ref.address,
                           thread=ref.thread, now=now,
                           payload=say.home(tickets.open_tickets_of(session=session, requester_id=requester.id)).to_json())


def handle(p: Pipeline, session: Session, row_id: int, message: InboundMessage, analysis: Analysis | None,
           now: dt.datetime) -> None:
    """Everything one message does, in ``session``'s transaction (``analysis``: None for what needs no reading)."""
    if (message.agent is not None or message.overheard or message.action is not None
            or message.conversation.thread):
        if _handled_apart(p, session, message, now):
            _complete(p, session, row_id, now)
            return
    assert analysis is not None
    kept, refused = screen(message.attachments, refused_types=p.settings.refused_attachment_types,
                           max_bytes=p.settings.max_attachment_bytes)
    if refused:  # the refused files' bytes leave the stored message in this transaction
        stored = without_refused(message, refused, drop_from_raw=p.drop_from_raw.get(message.conversation.channel))
        queue.replace_inbound_payload(session=session, row_id=row_id, payload=stored.to_json())
    files = [NewAttachment(a.filename, a.content_type, a.content) for a in kept]
    cited = queue.sent_message(session=session, channel=message.conversation.channel, native_ids=message.cites)
    if message.automated:  # an out-of-office, a bounce, a list: kept, never answered
        _store_automated(p, session, message, cited, files, refused, now)
        _complete(p, session, row_id, now)
        return
    requester, conversation = _place(session, message, cited)
    if conversation.ticket is None and message.ticket_hint is not None:
        _join_named_ticket(session, conversation, message, requester.id)
    state = _state(p, session, conversation, now)
    # The NLP read the subject with the text; the policy's word rules (yes, no, "it works now") read what was written.
    reading = reading_of(analysis, text=message.text, action=message.action,
                         forwarded_evidence=forwarded_evidence(message), new_request=message.new_request,
                         articles=p.analyzer.kb.articles)
    thresholds = thresholds_for(analysis, answer_threshold=p.settings.answer_threshold,
                                retrieval=p.settings.retrieval_threshold)
    decision = decide(reading, state, thresholds, directory=p.directory)
    if conversation.awaiting in _QUESTIONS:  # a question gets one answer, whatever it is
        conversations.stop_waiting(session=session, conversation=conversation)
    if decision.action in _READS_THE_KB and reading.top_article_score < thresholds.retrieval:
        knowledge.record_gap(session=session, text=message.text or message.subject, channel=message.conversation.channel,
                             intent=analysis.intent, best_article=reading.top_article,
                             best_score=reading.top_article_score, now=now)
    replies = carry_out(Turn(session=session, message=message, analysis=analysis, conversation=conversation,
                             requester_id=requester.id, decision=decision, now=now, analyzer=p.analyzer,
                             settings=p.settings, directory=p.directory, reports=p.reports))
    # A message held by the new-problem question, and the question, are in no ticket until it is answered.
    ticket = None if decision.action is Action.ASK_NEW_PROBLEM else conversation.ticket
    tickets.add_message(
        session=session, idempotency_key=message.key, ticket=ticket, conversation=conversation,
        direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, channel=message.conversation.channel,
        text=message.text, attachments=files, max_attachment_bytes=p.settings.max_attachment_bytes, now=now,
    )
    _note_refused(session, message, ticket, conversation, refused, now)
    if refused and replies:  # the requester hears that the file did not arrive, and why
        # Only refused files and no words: nothing reached the ticket, so the reply must not say it was added.
        only_refused = not kept and not message.text.strip()
        replies[0] = replace(replies[0], text=say.refused_attachments(None if only_refused else replies[0].text,
                                                                      refused))
    if ticket is not None:
        tickets.add_message(session=session, idempotency_key=f"{message.key}:decision", ticket=ticket,
                            conversation=conversation, direction=Direction.NOTE, author_kind=AuthorKind.BOT,
                            channel="bot", text=f"decision {decision.action.value}: {decision.explain()}", now=now)
    # Replies keep the conversation's subject (email: "Re: <the mail's subject> [#1042]").
    subject = message.subject or (ticket.subject if ticket else "")
    replies = [r if r.subject else replace(r, subject=subject) for r in replies]
    replies = _within_reply_limit(p, session, message, conversation, replies, now)
    to = message.reply_ref if message.reply_ref is not None and conversation.address == message.conversation.address \
        else ConversationRef(conversation.channel, conversation.address, conversation.thread)
    if decision.action is Action.TICKET_STATUS and message.private_ref is not None and message.reply_ref is None:
        to = message.private_ref  # a list of the sender's tickets never goes where others read it
    for i, reply in enumerate(replies):
        key = f"{message.key}:reply:{i}"
        tickets.add_message(session=session, idempotency_key=key, ticket=ticket,
                            conversation=conversation, direction=Direction.OUTBOUND, author_kind=AuthorKind.BOT,
                            channel=message.conversation.channel, text=reply.as_plain_text(), now=now)
        queue.enqueue_outbound(session=session, key=key, channel=to.channel, address=to.address, thread=to.thread,
                               payload=reply.to_json(), now=now, ticket_id=ticket.id if ticket else None)
    _complete(p, session, row_id, now)
    log.info("%s -> %s (%s)", message.key, decision.action.value, decision.explain())


def _within_reply_limit(p: Pipeline, session: Session, message: InboundMessage, conversation: Conversation,
                        replies: list[Reply], now: dt.datetime) -> list[Reply]:
    """The replies this address may still get this hour; the others become a note on the ticket."""
    ref = conversation
    limit = p.settings.replies_per_hour.get(ref.channel)
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


def _note_refused(session: Session, message: InboundMessage, ticket: Ticket | None,
                  conversation: Conversation | None, refused: list[Refused], now: dt.datetime) -> None:
    if not refused:
        return
    text = "\n".join(f"Attachment not kept: {r.describe()}" for r in refused)
    tickets.add_message(session=session, idempotency_key=f"{message.key}:refused-attachments",
                        ticket=ticket, conversation=conversation, direction=Direction.NOTE,
                        author_kind=AuthorKind.BOT, channel="bot", text=text, now=now)
    log.warning("%s: %s", message.key, text.replace("\n", "; "))


def _join_named_ticket(session: Session, conversation: Conversation, message: InboundMessage,
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


def _place(session: Session, message: InboundMessage, cited: OutboxRow | None,
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
    conversation = existing or conversations.create(
        session=session, channel=ref.channel, address=ref.address, thread=ref.thread, requester_id=requester.id)
    return requester, conversation


def _store_automated(p: Pipeline, session: Session, message: InboundMessage, cited: OutboxRow | None,
                     files: list[NewAttachment], refused: list[Refused], now: dt.datetime) -> None:
    """A machine's mail joins a ticket only as a note, and only when it reports on a message we sent (a bounce,
    an out-of-office to our reply); anything else is kept on its own, in no conversation and no ticket."""
    ticket = tickets.get_ticket_by_id(session=session, ticket_id=cited.ticket_id) if cited and cited.ticket_id else None
    text = f"Automatic mail from {message.conversation.address} ({message.automated}):\n{message.text}"
    tickets.add_message(session=session, idempotency_key=message.key, ticket=ticket, conversation=None,
                        direction=Direction.NOTE if ticket else Direction.INBOUND, author_kind=AuthorKind.SYSTEM,
                        channel=message.conversation.channel, text=text, attachments=files,
                        max_attachment_bytes=p.settings.max_attachment_bytes, now=now)
    _note_refused(session, message, ticket, None, refused, now)
    log.info("%s stored without a reply (%s)%s", message.key, message.automated,
             f", as a note on {ticket.ref}" if ticket else "")


def _state(p: Pipeline, session: Session, conversation: Conversation, now: dt.datetime) -> State:
    ticket = conversation.ticket
    open_ticket = ticket.number if ticket is not None and ticket.status in ACTIVE_STATUSES else None
    resolved = None
    if (ticket is not None and ticket.status is Status.RESOLVED and ticket.resolved_at is not None
            and now - ticket.resolved_at <= p.settings.reopen_window
            and ticket.resolution_code not in (ResolutionCode.SELF_SERVICE, ResolutionCode.POTENTIAL_DEFLECTION)):
        resolved = ticket.number
    asked = conversation.awaiting is ConversationWait.SECURITY_ANSWER
    return State(open_ticket=open_ticket, resolved_ticket=resolved,
                 open_ticket_intent=(ticket.confirmed_intent or ticket.intent) if open_ticket is not None else None,
                 new_problem_question=conversation.awaiting is ConversationWait.NEW_PROBLEM_ANSWER,
                 awaiting_confirmation=conversation.awaiting is ConversationWait.CONFIRMATION,
                 offered_article=None if asked else conversation.offered_article,
                 clarifications=conversation.clarifications,
                 security_question=conversation.offered_article if asked else None)


def _sent_into(cited: OutboxRow | None, conversation: Conversation) -> bool:
    return cited is not None and (cited.channel, cited.address, cited.thread) == (
        conversation.channel, conversation.address, conversation.thread)


def _claimed_identity(external_id: str, thread: str) -> str:
    """The identity of an unverified sender in one conversation: the same claimed address in another thread is
    another identity, so it sees nothing of this one (and nothing of the address's real owner)."""
    return f"{external_id}#{hashlib.sha256(thread.encode()).hexdigest()[:16]}"
