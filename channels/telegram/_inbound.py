"""PTB handlers: Telegram updates -> ``InboundMessage`` for the bot's inbox, and the commands the channel answers
itself (/start, /help, /link).

Keys are Telegram's own ids, so a replayed update is stored once: a message ``telegram:<update_id>``; a
button click ``telegram:action:<chat>:<message id>:<value>:<user>`` (a double click is one click).

``/link <email>`` mails a code without going through the inbox; its update id is counted as a rate limit of one
(``telegram.link.update``) in the same step as the code, so a replayed update mails nothing more and, when the
channel has the desk's limiter, gets no second answer either.

A private chat is one conversation (address: the chat id). In a group the bot reads only what is addressed
to it (a mention, a reply to one of its messages) and each person there has a conversation of their own
(thread: their user id); what is theirs alone (/status) goes to their private chat with the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Chat, Message, MessageEntity, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ApplicationHandlerStop, CallbackQueryHandler, CommandHandler, ContextTypes, \
    MessageHandler, filters

from bot.conversation import (
    Attachment,
    ConversationRef,
    Identity,
    InboundMessage,
    RateLimit,
    RateLimiter,
    VerificationProblem,
    VerificationRefused,
    Verifier,
)
from channels.telegram._render import PARSE_MODE, escape

log = logging.getLogger("deskbot.telegram")

CHANNEL = "telegram"
# getFile hands out files up to 20 MB; a larger one cannot be fetched whatever the desk's own limit.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024
MAX_RAW = 100_000
COMMANDS = (
    ("start", "What I do and how to link your work account"),
    ("help", "How to ask IT for help here"),
    ("new", "Open a ticket at once: /new what is wrong"),
    ("status", "Your open tickets"),
    ("link", "Link your work email: /link name@company.com, then /link CODE"),
)
_CODE = re.compile(r"\s*\d{3}\s?\d{3}\s*")
# How long a /link update's id is remembered. Telegram keeps an unconfirmed update for 24 hours; the desk's
# counters have fixed windows, so a replay is recognised unless a window boundary falls between the two
# deliveries (one in a week's worth of replay delay: a webhook retry seconds later almost never).
LINK_REPLAY_WINDOW = dt.timedelta(days=7)
HELP = ("I'm the IT service desk assistant. Tell me what is not working and I'll answer from the knowledge base "
        "or open a ticket for IT.\n\n"
        "/new <problem> opens a ticket at once\n"
        "/status lists your open tickets\n"
        "/link <your work email> links this Telegram account to your work account: I mail you a 6-digit code, "
        "you send it back with /link <code>. Until then you see only the tickets opened here; once linked, "
        "/status shows your tickets from every channel (email, Slack, web chat).\n\n"
        "In a group, mention me or reply to my message.")

Deliver = Callable[[InboundMessage], Awaitable[bool]]


@dataclass
class Delivery:
    """What the adapter lends the handlers: the bot's inbox (None when stopped), the verification service, the
    file limit, where a failed commit is reported (by update id) for the webhook or poller to answer, and the
    desk's limiter (which tells a replayed /link apart from one over the verifier's limits)."""

    deliver: Callable[[], Deliver | None]
    verifier: Verifier | None
    max_file_bytes: int
    failures: dict[int, BaseException]
    limiter: RateLimiter | None = None


def install(app: Application, delivery: Delivery) -> None:
    """The handlers, in order: commands first, then button clicks, then messages (text, photos, documents)."""
    handlers = _Handlers(delivery)
    app.add_handler(CommandHandler(("start", "help"), handlers.help))
    app.add_handler(CommandHandler("new", handlers.new))
    app.add_handler(CommandHandler("status", handlers.status))
    app.add_handler(CommandHandler("link", handlers.link))
    app.add_handler(CallbackQueryHandler(handlers.click))
    app.add_handler(MessageHandler((filters.TEXT | filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND
                                   & ~filters.UpdateType.EDITED, handlers.message))
    app.add_error_handler(handlers.failed)


class _Handlers:
    def __init__(self, delivery: Delivery):
        self.d = delivery

    async def failed(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A handler failed (a file Telegram would not serve, the Bot API down): the update counts as not taken,
        so the webhook answers 500 and the poller tries it again, rather than it being dropped unseen."""
        if isinstance(update, Update):
            log.warning("Telegram update %s failed: %s: %s", update.update_id, type(context.error).__name__,
                        context.error)
            self.d.failures[update.update_id] = context.error or RuntimeError("handler failed")

    # --- commands answered here --------------------------------------------------------------------

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await _say(update, HELP)

    async def link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        if message.chat.type != Chat.PRIVATE:
            await _say(update, "To keep your address and code private, send /link to me in a private chat.")
            return
        argument = " ".join(context.args or ()).strip()
        if not argument:
            await _say(update, "Send /link followed by your work email address, e.g. /link name@company.com. "
                               "I'll mail you a 6-digit code; then send /link and the code.")
        elif _CODE.fullmatch(argument):
            await self._confirm(update, argument)
        else:
            await self._send_code(update, argument)

    async def _send_code(self, update: Update, email: str) -> None:
        if self.d.verifier is None:
            await _say(update, "Linking accounts is not set up on this desk.")
            return
        once = RateLimit("telegram.link.update", str(update.update_id), 1, LINK_REPLAY_WINDOW)
        if await self._seen(once):
            log.info("Telegram update %s: a replayed /link, its code was already sent", update.update_id)
            return
        try:
            sent = await self.d.verifier.send_code(channel=CHANNEL, external_id=_user_id(update), email=email,
                                                   also=(once,))
        except VerificationRefused as refused:
            if refused.problem is VerificationProblem.TOO_MANY and await self._seen(once):
                log.info("Telegram update %s: a /link delivered twice at once, one code sent", update.update_id)
                return
            await _say(update, _refusal(refused))
            return
        minutes = max(1, round(sent.expires_in.total_seconds() / 60))
        await _say(update, f"I've mailed a 6-digit code to {sent.email}. Send it here within {minutes} minutes "
                           "(the 6 digits, or /link and the code).")

    async def _seen(self, once: RateLimit) -> bool:
        """True when this update's /link was handled already (only the desk's limiter can say; without one the
        verifier still refuses a second code, with its "too many codes" answer)."""
        if self.d.limiter is None:
            return False
        return await asyncio.to_thread(self.d.limiter.blocked_for, (once,)) is not None

    async def _confirm(self, update: Update, code: str) -> None:
        if self.d.verifier is None:
            await _say(update, "Linking accounts is not set up on this desk.")
            return
        user = update.effective_user
        try:
            email = await self.d.verifier.check_code(channel=CHANNEL, external_id=_user_id(update), code=code,
                                                     display_name=user.full_name if user else "")
        except VerificationRefused as refused:
            await _say(update, _refusal(refused))
            return
        await _say(update, f"Linked: this Telegram account is now {email}. /status lists your tickets from every "
                           "channel.")

    # --- to the bot's inbox --------------------------------------------------------------------------

    async def new(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = " ".join(context.args or ()).strip()
        if not text:
            await _say(update, "Tell me what is wrong after /new, e.g. /new my VPN keeps dropping.")
            return
        await self._hand_over(update, text=text, action="open_ticket", new_request=True)

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._hand_over(update, text="/status", action="ticket_status")

    async def message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or update.effective_user is None:
            return
        if message.chat.type != Chat.PRIVATE:
            if not _addressed_to_bot(message, context):
                return
        elif (message.text and _CODE.fullmatch(message.text) and self.d.verifier is not None
              and await self.d.verifier.pending(channel=CHANNEL, external_id=_user_id(update))):
            await self._confirm(update, message.text)
            return
        text = _without_mention(message.text or message.caption or "", context.bot.username)
        attachments = await self._files(message, context)
        await self._hand_over(update, text=text, attachments=attachments)

    async def click(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        shown = query.message if isinstance(query.message, Message) else None
        if shown is None or not query.data:
            await query.answer()
            return
        labels = {b.callback_data: b.text for row in (shown.reply_markup.inline_keyboard if shown.reply_markup else ())
                  for b in row}
        key = f"telegram:action:{shown.chat.id}:{shown.message_id}:{query.data}:{user.id}"
        group = shown.chat.type != Chat.PRIVATE
        await self._hand_over(update, text=labels.get(query.data, query.data), action=query.data, key=key,
                              chat=shown.chat, overheard=group)
        await query.answer()
        try:  # one answer per question: the buttons go once clicked
            await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError as exc:
            log.debug("could not remove the buttons of message %s: %s", shown.message_id, exc)

    async def _hand_over(self, update: Update, *, text: str, action: str | None = None, key: str | None = None,
                         attachments: tuple[Attachment, ...] = (), chat: Chat | None = None,
                         overheard: bool = False, new_request: bool = False) -> None:
        user = update.effective_user
        chat = chat or update.effective_chat
        assert user is not None and chat is not None
        private = chat.type == Chat.PRIVATE
        message = InboundMessage(
            key=key or f"telegram:{update.update_id}",
            conversation=ConversationRef(CHANNEL, str(chat.id), "" if private else str(user.id)),
            sender=Identity(CHANNEL, str(user.id), display_name=user.full_name or user.username or str(user.id)),
            text=text.strip(), received_at=dt.datetime.now(dt.UTC), action=action, attachments=attachments,
            raw=json.dumps(update.to_dict(), ensure_ascii=False)[:MAX_RAW],  # files by id only: no bytes in it
            overheard=overheard, private_ref=None if private else ConversationRef(CHANNEL, str(user.id)),
            new_request=new_request)
        deliver = self.d.deliver()
        try:
            if deliver is None:
                raise RuntimeError("the Telegram channel is stopped")
            stored = await deliver(message)
        except Exception as exc:  # noqa: BLE001 - reported to the webhook (500) or the poller (try again)
            log.warning("Telegram update %s not stored: %s: %s", update.update_id, type(exc).__name__, exc)
            self.d.failures[update.update_id] = exc
            raise ApplicationHandlerStop from None
        log.debug("%s %s", message.key, "stored" if stored else "seen before")

    async def _files(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> tuple[Attachment, ...]:
        if message.photo:
            photo = message.photo[-1]  # the largest size Telegram made
            found = [(photo.file_id, f"photo-{photo.file_unique_id}.jpg", "image/jpeg", photo.file_size)]
        elif message.document is not None:
            doc = message.document
            found = [(doc.file_id, doc.file_name or f"document-{doc.file_unique_id}",
                      doc.mime_type or "application/octet-stream", doc.file_size)]
        else:
            return ()
        fetch_limit = min(self.d.max_file_bytes, BOT_API_DOWNLOAD_LIMIT)
        out = []
        for file_id, name, content_type, size in found:
            if size is not None and size > fetch_limit:  # not fetched: the bot refuses it and says why
                out.append(Attachment(name, content_type, b"", size=size))
                continue
            try:
                file = await context.bot.get_file(file_id)
                content = bytes(await file.download_as_bytearray())
            except BadRequest as exc:  # "file is too big" and the like: it will never come
                log.warning("Telegram would not hand over %s: %s", name, exc.message)
                out.append(Attachment(name, content_type, b"", size=size or 0))
                continue
            out.append(Attachment(name, content_type, content))
        return tuple(out)


def _user_id(update: Update) -> str:
    assert update.effective_user is not None
    return str(update.effective_user.id)


async def _say(update: Update, text: str) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(escape(text), parse_mode=PARSE_MODE)


def _refusal(refused: VerificationRefused) -> str:
    if refused.problem is VerificationProblem.TOO_MANY and refused.retry_after is not None:
        minutes = max(1, -(-int(refused.retry_after.total_seconds()) // 60))
        return f"{refused.message}: please try again in {minutes} minute(s)."
    if refused.problem is VerificationProblem.ADDRESS:
        return f"{refused.message}. Send /link followed by your work email address."
    return refused.message[:1].upper() + refused.message[1:] + "."


def _addressed_to_bot(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    bot = context.bot
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == f"@{(bot.username or '').lower()}":
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot.id:
            return True
    return False


def _without_mention(text: str, username: str | None) -> str:
    if not username:
        return text.strip()
    return re.sub(rf"@{re.escape(username)}\b", "", text, flags=re.IGNORECASE).strip()

