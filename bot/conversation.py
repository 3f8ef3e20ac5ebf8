"""The channel-neutral conversation model: what every channel adapter speaks.

Channels import this module and nothing else of the bot. The types are frozen and carry
no live client objects, so a message can be stored, retried and replayed.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class Identity:
    """Who wrote, as the channel knows them."""

    channel: str
    external_id: str
    display_name: str = ""
    email: str | None = None
    email_verified: bool = False  # only when the channel vouches for the address
    # The platform vouches that external_id is who wrote (a Slack user id, a web chat session). False for
    # a mail's From that nobody verified: anyone can write it, so such an identity is only a claim, good for
    # the one conversation it started and for nothing else.
    authenticated: bool = True


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
    # The platform's word on the size of a file the channel did not fetch (above the limit, or more than the
    # platform hands out); its content is then empty and the bot refuses it with a reason.
    size: int | None = None


AGENT_ACTIONS = ("assign", "reply", "note", "send_article", "confirm_intent")


@dataclass(frozen=True)
class AgentAction:
    """What an agent did from a channel's agent view (a button, a form, a message in a ticket's thread).

    ``ticket`` is the ticket number when the channel knows it (a button carries it); a message in
    a ticket's thread leaves it None and the bot finds the ticket by the thread.
    """

    kind: str  # one of AGENT_ACTIONS
    ticket: int | None = None
    article_id: str | None = None  # send_article: which one
    intent: str | None = None  # confirm_intent: the agent's label


    def __post_init__(self) -> None:
        if self.kind not in AGENT_ACTIONS:
            raise ValueError(f"unknown agent action {self.kind!r}")

    def as_value(self) -> str:
        """The action as a button value: ``agent:assign:1042``, ``agent:send_article:1042:KB-0001``,
        ``agent:confirm_intent:1042:vpn_connection``."""
        parts = ["agent", self.kind, "" if self.ticket is None else str(self.ticket)]
        if self.article_id or self.intent:
            parts.append(self.article_id or self.intent or "")
        return ":".join(parts)

    @classmethod
    def from_value(cls, value: str) -> AgentAction | None:
        """The action a button value names, or None if it is not an agent action (or malformed)."""
        parts = value.split(":")
        if len(parts) not in (3, 4) or parts[0] != "agent" or parts[1] not in AGENT_ACTIONS:
            return None
        if parts[2] and not parts[2].isdigit():
            return None
        argument = parts[3] if len(parts) == 4 and parts[3] else None
        number = int(parts[2]) if parts[2] else None
        if parts[1] == "confirm_intent":
            return cls(parts[1], number, intent=argument)
        return cls(parts[1], number, argument)


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
    agent: AgentAction | None = None  # set when an agent acts from a channel (not a requester's message)
    # Seen in a shared thread without being addressed to the bot (no DM, no mention): the bot uses it only
    # when the thread is one it knows (a ticket's agent thread, a requester's conversation), else drops it.
    overheard: bool = False
    native_id: str = ""  # the platform's id of this message (email: its Message-ID)
    # Native ids of earlier messages this one says it answers (email: In-Reply-To, References, a bounce's
    # original Message-ID). Only one the bot itself sent proves anything.
    cites: tuple[str, ...] = ()
    # Where to reach this sender privately (Slack: the app's DM with them), for answers others in the conversation
    # must not read (the sender's tickets); None where the conversation itself is private (email, web chat).
    private_ref: ConversationRef | None = None
    # Where this message's answers go when not to its conversation at large (Slack: the thread of the bot's DM it
    # was written in; the DM, threads included, is one conversation).
    reply_ref: ConversationRef | None = None
    # Came through an entry for a new request (Slack's /it and message shortcut, Telegram's /new): in a
    # conversation that carries an open ticket, the bot asks whether it is about that ticket or a new problem.
    new_request: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        data["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "content": a.content.hex(), "size": a.size}
            for a in self.attachments
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
                Attachment(a["filename"], a["content_type"], bytes.fromhex(a["content"]), a.get("size"))
                for a in data.get("attachments", ())
            ),
            action=data.get("action"),
            raw=data.get("raw", ""),
            automated=data.get("automated"),
            ticket_hint=data.get("ticket_hint"),
            agent=AgentAction(**data["agent"]) if data.get("agent") else None,
            overheard=data.get("overheard", False),
            native_id=data.get("native_id", ""),
            cites=tuple(data.get("cites", ())),
            new_request=data.get("new_request", False),
            reply_ref=ConversationRef(**data["reply_ref"]) if data.get("reply_ref") else None,
            private_ref=ConversationRef(**data["private_ref"]) if data.get("private_ref") else None,
        )


@dataclass(frozen=True)
class Button:
    label: str
    value: str  # sent back as InboundMessage.action (or an AgentAction's value)
    url: str = ""  # a link button (e.g. "Open in console"): opens the URL, sends nothing back


@dataclass(frozen=True)
class Menu:
    """A choice among many (Slack: a select menu); channels without one leave it out."""

    label: str
    options: tuple[Button, ...]


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
    mentions: tuple[str, ...] = ()  # emails of people to notify (Slack: an @-mention); others ignore it
    subject: str = ""  # what the conversation is about (email: the original subject; replies say "Re: ...")
    menus: tuple[Menu, ...] = ()

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
            mentions=tuple(data.get("mentions", ())),
            subject=data.get("subject", ""),
            menus=tuple(Menu(m["label"], tuple(Button(**b) for b in m["options"])) for m in data.get("menus", ())),
        )

    def as_plain_text(self) -> str:
        """The reply for a channel without buttons: numbered choices the user can type back."""
        lines = [self.text]
        for article in self.articles:
            lines.append(f"{article.article_id} {article.title}: {article.url}")
        for button in self.buttons:
            if button.url:
                lines.append(f"{button.label}: {button.url}")
        answers = [b for b in self.buttons if not b.url]
        if answers:
            choices = " or ".join(b.value.upper() for b in answers)
            lines.append(f"(reply {choices})")
        return "\n".join(lines)


class SendError(Exception):
    """A channel could not deliver; the dispatcher retries with backoff."""


class RateLimited(SendError):
    def __init__(self, retry_after: float, message: str = "rate limited"):
        super().__init__(f"{message}; retry after {retry_after:g} s")
        self.retry_after = retry_after


class Undeliverable(SendError):
    """The platform will never take this reply (the person blocked the bot, the chat is gone): the dispatcher
    parks it at once with this message instead of retrying."""


# A channel hands each inbound message to this; it returns once the message is committed.
OnMessage = Callable[[InboundMessage], Awaitable[bool]]

# A channel's way to take refused attachments, (attachment, reason) pairs, out of its raw payload (email: the MIME).
DropAttachments = Callable[[str, Sequence[tuple[Attachment, str]]], str]


class ChannelAdapter(Protocol):
    name: str

    async def start(self, on_message: OnMessage) -> None: ...

    async def send(self, ref: ConversationRef, reply: Reply) -> str | None:
        """Deliver; returns the platform's id of the message sent (Slack ``ts``) when it has one."""
        ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` events of ``scope`` for ``key`` (an IP address, an email address, '' for all) per ``window``."""

    scope: str
    key: str
    limit: int
    window: dt.timedelta


class RateLimiter(Protocol):
    """Limits a channel asks about (sign-ins, codes); kept where every process sees them and a restart keeps them.

    Blocking (a database round trip): call it from a thread, not on an event loop.
    """

    def hit(self, limits: Sequence[RateLimit]) -> dt.timedelta | None:
        """Count one event against every limit, or, when one is reached, none: then how long until all have room."""
        ...

    def blocked_for(self, limits: Sequence[RateLimit]) -> dt.timedelta | None:
        """How long until every limit has room for one more event (None: now); counts nothing."""
        ...


class VerificationProblem(enum.Enum):
    """Why a one-time code was not sent or not accepted; each channel words the answer for its platform."""

    NOT_SET_UP = "not_set_up"  # no way to deliver codes on this desk
    ADDRESS = "address"  # not an address, or not one at a domain codes go to
    TOO_MANY = "too_many"  # a limit is reached: retry_after says for how long
    NOT_SENT = "not_sent"  # the mail did not go out: try again
    BAD_FORMAT = "bad_format"  # not 6 digits
    NO_CODE = "no_code"  # nothing pending (never asked, used, or replaced)
    EXPIRED = "expired"
    WRONG = "wrong"  # attempts_left says how many tries the code has left (0: ask for a new one)
    UNAVAILABLE = "unavailable"  # the desk could not be asked


class VerificationRefused(Exception):
    def __init__(self, problem: VerificationProblem, message: str, *, retry_after: dt.timedelta | None = None,
                 attempts_left: int | None = None):
        super().__init__(message)
        self.problem, self.message = problem, message
        self.retry_after, self.attempts_left = retry_after, attempts_left


@dataclass(frozen=True)
class CodeSent:
    email: str  # normalised
    expires_in: dt.timedelta


class Verifier(Protocol):
    """The bot's one verification service for chat channels: a code mailed to an address and typed back links
    the chat identity (channel, external id) to that address's requester. Both raise ``VerificationRefused``.

    ``also``: the channel's own limits (per client address, for everyone) counted in the same step.
    """

    @property
    def code_ttl(self) -> dt.timedelta:
        """How long a code is good for."""
        ...

    async def send_code(self, *, channel: str, external_id: str, email: str,
                        also: Sequence[RateLimit] = ()) -> CodeSent: ...

    async def check_code(self, *, channel: str, external_id: str, code: str, display_name: str = "",
                         also: Sequence[RateLimit] = ()) -> str:
        """The verified address."""
        ...

    async def pending(self, *, channel: str, external_id: str) -> str | None:
        """The address a live code of this identity went to, if any."""
        ...


class SessionEnd(enum.Enum):
    """Why a chat session's token opens nothing; the channel words the answer."""

    UNKNOWN = "unknown"  # never issued (a forged or made-up token), or cleaned away long ago
    IDLE = "idle"  # unused for longer than the idle timeout
    LIFETIME = "lifetime"  # past its absolute lifetime


@dataclass(frozen=True)
class ChatSession:
    """A chat channel's session as the desk keeps it (``ChatSessions``); its token is only the channel's."""

    id: int
    address: str  # its conversation's ConversationRef.address: stable, no secret
    external_id: str | None  # the identity it speaks for: verified, or the one a code is pending for
    email: str | None
    verified: bool


class ChatSessions(Protocol):
    """Where a chat channel keeps its sessions and the replies waiting for their streams (deskbot: the desk), so
    that a restart forgets none and every process on the database serves every session. Sessions are found by
    the SHA-256 ``digest`` of their token, never by the token. The store ends idle and old sessions itself."""

    @property
    def lifetime(self) -> dt.timedelta:
        """How long a session lasts at most, however active (a cookie needs to live no longer)."""
        ...

    async def open(self, *, channel: str, digest: str, address: str) -> ChatSession: ...

    async def find(self, *, digest: str) -> ChatSession | SessionEnd:
        """The live session of ``digest`` (its use recorded), or why there is none."""
        ...

    async def touch(self, *, session_id: int) -> bool:
        """Record a use (an open stream); False once the session has ended."""
        ...

    async def codes_sent(self, *, session_id: int, window: dt.timedelta) -> tuple[int, dt.timedelta]:
        """Codes the session asked for in its current ``window``, and how long until that window ends."""
        ...

    async def code_sent(self, *, session_id: int, external_id: str, email: str, window: dt.timedelta) -> int:
        """A code went out: the session speaks for ``external_id`` (unverified); how many it has had in the window."""
        ...

    async def forget_pending(self, *, session_id: int) -> None: ...

    async def verified(self, *, session_id: int, external_id: str, email: str, digest: str) -> ChatSession | None:
        """The session verified under a new token's ``digest``; None if it was verified already or has ended."""
        ...

    async def add_reply(self, *, channel: str, address: str, payload: str, offers: Sequence[Button]) -> int | None:
        """Queue a reply for the session of ``address``: its event number, or None when no live session has it."""
        ...

    async def replies_after(self, *, session_id: int, after: int) -> tuple[tuple[int, str], ...] | None:
        """(event number, payload) of the replies after ``after``; None once the session has ended."""
        ...

    async def offered_label(self, *, session_id: int, value: str) -> str | None: ...
