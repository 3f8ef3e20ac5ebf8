"""Agents' actions that arrive through a channel's agent view (today: Slack): a button, a form, a message in a
ticket's thread. This module only translates such an ``InboundMessage`` into a call of the agent service layer.

Everything arrives through the inbox, so a click or a message is never lost and a redelivery changes nothing
(the message's idempotency key is the action's key). The agent is the desk user with the sender's verified
email; anything else said in the thread is an internal note and is never queued to the requester.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.agents import _service as agents
from bot.conversation import AgentAction, InboundMessage, Reply
from desk import AuthorKind, DeskError, people, queue, tickets
from desk.domain import NotFound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desk.models import Ticket, User

log = logging.getLogger("deskbot.agents")


class AgentDesk:
    def __init__(self, *, reply_prefix: str, kb_url: str, articles: Callable[[], Mapping[str, Any]],
                 intents: frozenset[str] = frozenset()):
        self.intents = intents  # what "Correct intent" may choose
        self.reply_prefix = reply_prefix.strip()
        self.kb_url = kb_url.rstrip("/")
        self.articles = articles  # the KB's articles by id, read when needed (the KB may be reloaded)

    def handle(self, session: Session, message: InboundMessage, thread_ticket: Ticket | None, now: dt.datetime) -> None:
        action = message.agent or AgentAction("note")
        if action.kind == "note" and self._is_reply(message.text):
            action = AgentAction("reply", action.ticket)
        ticket = thread_ticket
        if action.ticket is not None:
            try:
                ticket = tickets.get_ticket(session=session, number=action.ticket)
            except NotFound:
                ticket = None
        if ticket is None:
            self._tell(session, message, now, "I can't find the ticket this is about.")
            return
        sender = message.sender
        agent = people.find_user_by_email(session=session, email=sender.email if sender.email_verified else None)
        if action.kind == "note":
            author = "" if agent else f"{sender.display_name or sender.external_id} (not a desk agent): "
            self._note(session, message, ticket, f"{author}{message.text}", agent, now)
            return
        if agent is None:
            self._tell(session, message, now, f"Only desk agents can do that; ask an admin to add you "
                                              f"(deskbot user add ... --email {sender.email or 'your work email'}).")
            return
        try:
            self._act(session, message, action, ticket, agent, now)
        except DeskError as exc:
            self._tell(session, message, now, f"{ticket.ref}: {exc}")

    def _act(self, session: Session, message: InboundMessage, action: AgentAction, ticket: Ticket, agent: User,
             now: dt.datetime) -> None:
        if action.kind == "assign":
            agents.assign(session=session, number=ticket.number, by=agents.Actor.of(agent), now=now)
            self._note(session, message, ticket, f"assigned to {agent.username} from {message.conversation.channel}",
                       agent, now, author_kind=AuthorKind.SYSTEM)
            self._tell(session, message, now, f"{ticket.ref} is assigned to {agent.display_name}.")
            return
        if action.kind == "confirm_intent":
            agents.confirm_intent(session=session, number=ticket.number, by=agents.Actor.of(agent),
                                  intent=action.intent or "", known=self.intents, now=now)
            self._tell(session, message, now, f"{ticket.ref}: intent {action.intent} recorded by {agent.display_name} "
                                              f"(the next training learns it).")
            return
        if action.kind == "reply":
            text = self._strip_prefix(message.text).strip()
            if not text:
                self._tell(session, message, now, f"Nothing to send: write the reply after "
                                                  f"{self.reply_prefix or 'the prefix'}.")
                return
            sent = agents.reply(session=session, number=ticket.number, by=agents.Actor.of(agent), text=text, now=now,
                                key=message.key)
        else:  # send_article
            article = self.articles().get(action.article_id or "")
            if article is None:
                self._tell(session, message, now, f"There is no article {action.article_id} in the knowledge base.")
                return
            sent = agents.send_article(session=session, number=ticket.number, by=agents.Actor.of(agent), article=article,
                                       url=f"{self.kb_url}/{article.id}", now=now, key=message.key)
        if sent is None:
            log.info("agent message %s was handled before", message.key)
            return
        self._tell(session, message, now, f"Sent to the requester ({sent.channel}).")

    def _note(self, session: Session, message: InboundMessage, ticket: Ticket, text: str, agent: User | None,
              now: dt.datetime, *, author_kind: AuthorKind = AuthorKind.AGENT) -> None:
        by = agents.Actor.of(agent) if agent else agents.Actor(f"{message.conversation.channel}:{message.sender.external_id}")
        if agents.note(session=session, number=ticket.number, by=by, text=text, now=now,
                       channel=message.conversation.channel, key=message.key, author_kind=author_kind) is None:
            log.info("agent message %s was handled before", message.key)

    def _tell(self, session: Session, message: InboundMessage, now: dt.datetime, text: str) -> None:
        """A short answer to the agent, in the thread the action came from."""
        ref = message.conversation
        queue.enqueue_outbound(session=session, key=f"{message.key}:feedback", channel=ref.channel, address=ref.address,
                               thread=ref.thread, payload=Reply(text).to_json(), now=now)

    def _is_reply(self, text: str) -> bool:
        return bool(self.reply_prefix) and text.lstrip().lower().startswith(self.reply_prefix.lower())

    def _strip_prefix(self, text: str) -> str:
        stripped = text.lstrip()
        if self._is_reply(stripped):
            return stripped[len(self.reply_prefix):]
        return stripped
