"""The terminal chat channel behind ``deskbot chat``: type a line, read the bot's replies."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import replace

from bot.conversation import ConversationRef, Identity, InboundMessage, OnMessage, Reply
from bot.rich_text import to_plain


class TerminalChannel:
    name = "cli"

    def __init__(self, *, user: str, display_name: str = "", email: str | None = None,
                 write: Callable[[str], None] = print):
        self._identity = Identity("cli", f"cli:{user}", display_name or user, email, email_verified=False)
        self._ref = ConversationRef("cli", f"cli:{user}", uuid.uuid4().hex[:12])  # one conversation per session
        self._write = write
        self._on_message: OnMessage | None = None

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message

    async def say(self, text: str) -> bool:
        """Hand one typed line to the bot; YES/NO answer the last "did this solve it?"."""
        if self._on_message is None:
            raise RuntimeError("the terminal channel is not started")
        word = text.strip().lower()
        action = "yes" if word in ("yes", "y", "oui") else "no" if word in ("no", "n", "non") else None
        message = InboundMessage(key=f"cli:{uuid.uuid4()}", conversation=self._ref, sender=self._identity,
                                 text=text.strip(), received_at=dt.datetime.now(dt.UTC), action=action)
        return await self._on_message(message)

    async def send(self, ref: ConversationRef, reply: Reply) -> None:
        self._write(replace(reply, text=to_plain(reply.text)).as_plain_text())  # the Markdown without its markup

    async def stop(self) -> None:
        self._on_message = None
