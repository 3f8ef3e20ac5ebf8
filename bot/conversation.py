"""The channel-neutral conversation model: what every channel adapter speaks.

Channels import this module and nothing else of the bot. The types are frozen and carry
no live client objects, so a message can be stored, retried and replayed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Identity:
    """Who wrote, as the channel knows them."""

    channel: str
    external_id: str
    display_name: str = ""
    email: str | None = None
    email_verified: bool = False  # only when the channel vouches for the address


@dataclass(frozen=True)
class ConversationRef:
    """Where a reply goes: Slack channel + thread_ts, Telegram chat id, an email address + root Message-ID."""

    channel: str
    address: str
    thread: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class InboundMessage:
    key: str  # idempotency key: channel + native id (Slack event_id, Telegram update_id, Message-ID)
    conversation: ConversationRef
    sender: Identity
    text: str  # plain text; for email the new text only (quotes and signature removed)
    received_at: dt.datetime
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    action: str | None = None  # a button's value ("yes", "no") when the message is a click
    raw: str = ""  # the platform payload, kept read-only for audit
    automated: str | None = None  # why a machine sent it (out-of-office, bounce, list): stored, never answered
    ticket_hint: int | None = None  # a ticket number the message names ("[#1042]" in a mail subject)

    def to_json(self) -> str:
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        data["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "content": a.content.hex()} for a in self.attachments
        ]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> InboundMessage:
        data = json.loads(text)
        return cls(
            key=data["key"],
            conversation=ConversationRef(**data["conversation"]),
            sender=Identity(**data["sender"]),
            text=data["text"],
            received_at=dt.datetime.fromisoformat(data["received_at"]),
            subject=data.get("subject", ""),
            attachments=tuple(
                Attachment(a["filename"], a["content_type"], bytes.fromhex(a["content"])) for a in data.get("attachments", ())
            ),
            action=data.get("action"),
            raw=data.get("raw", ""),
            automated=data.get("automated"),
            ticket_hint=data.get("ticket_hint"),
        )


@dataclass(frozen=True)
class Button:
    label: str
    value: str  # sent back as InboundMessage.action


@dataclass(frozen=True)
class ArticleLink:
    article_id: str
    title: str
    url: str


@dataclass(frozen=True)
class Reply:
    """What the bot or an agent says; each channel renders it (buttons degrade to text where needed)."""

    text: str
    buttons: tuple[Button, ...] = ()
    ticket_ref: str | None = None  # "#1042"
    articles: tuple[ArticleLink, ...] = ()
    subject: str = ""  # what the conversation is about (email: the original subject; replies say "Re: ...")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Reply:
        data = json.loads(text)
        return cls(
            text=data["text"],
            buttons=tuple(Button(**b) for b in data.get("buttons", ())),
            ticket_ref=data.get("ticket_ref"),
            articles=tuple(ArticleLink(**a) for a in data.get("articles", ())),
            subject=data.get("subject", ""),
        )

    def as_plain_text(self) -> str:
        """The reply for a channel without buttons: numbered choices the user can type back."""
        lines = [self.text]
        for article in self.articles:
            lines.append(f"{article.article_id} {article.title}: {article.url}")
        if self.buttons:
            choices = " or ".join(b.value.upper() for b in self.buttons)
            lines.append(f"(reply {choices})")
        return "\n".join(lines)


class SendError(Exception):
    """A channel could not deliver; the dispatcher retries with backoff."""


class RateLimited(SendError):
    def __init__(self, retry_after: float, message: str = "rate limited"):
        super().__init__(f"{message}; retry after {retry_after:g} s")
        self.retry_after = retry_after


# A channel hands each inbound message to this; it returns once the message is committed.
OnMessage = Callable[[InboundMessage], Awaitable[bool]]


class ChannelAdapter(Protocol):
    name: str

    async def start(self, on_message: OnMessage) -> None: ...

    async def send(self, ref: ConversationRef, reply: Reply) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Decision:
    """What the policy chose for one message, with its reasons (kept for agents and audit)."""

    action: str  # see bot.policy.Action
    reasons: tuple[str, ...] = field(default_factory=tuple)
    intent: str | None = None
    article_id: str | None = None
    ticket_type: str | None = None
    impact: int | None = None  # ITIL impact, 1 (many people) .. 3 (one person)
    urgency_raise: int = 0  # steps above the intent's default urgency (frustration, time pressure)

    def explain(self) -> str:
        return "; ".join(self.reasons)
