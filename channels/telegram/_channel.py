"""The Telegram channel: a python-telegram-bot ``Application`` (initialize/start in ``start``, stop/shutdown in
``stop``) fed by deskbot's HTTP app (webhook) or by its own getUpdates loop (polling), and replies through the
Bot API.

Nothing is acknowledged before the inbox committed it. Webhook: the update is processed inside the request and
Telegram gets its 200 only then (a failure is a 500: Telegram delivers again). Polling: PTB's ``Updater``
confirms an update with the next getUpdates as soon as it has fetched it, before any handler ran, so a crash
would lose it; the loop here moves the offset past an update only once it is committed.

``send`` maps 429 to ``RateLimited(retry_after)``, 403 ("bot was blocked by the user") and 400 to
``Undeliverable`` (parked at once: retrying cannot help) and everything else to ``SendError`` (retried).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import warnings

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBDeprecationWarning

from bot.conversation import (
    ConversationRef,
    OnMessage,
    RateLimited,
    RateLimiter,
    Reply,
    SendError,
    Undeliverable,
    Verifier,
)
from channels.telegram._inbound import CHANNEL, COMMANDS, Delivery, install
from channels.telegram._render import PARSE_MODE, render

log = logging.getLogger("deskbot.telegram")

API_URL = "https://api.telegram.org/bot"
FILE_URL = "https://api.telegram.org/file/bot"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)  # waits after a failed getUpdates or commit, then the last one
# Tries at one polled update before it is given up (logged): about a minute and a half of a database outage.
MAX_UPDATE_ATTEMPTS = 8


class TelegramChannel:
    name = CHANNEL

    def __init__(self, *, token: str, verifier: Verifier | None, api_url: str = API_URL, file_url: str = FILE_URL,
                 polling: bool = False, webhook_secret: str | None = None, webhook_url: str | None = None,
                 max_file_bytes: int = 10 * 1024 * 1024, poll_timeout: int = 25, limiter: RateLimiter | None = None):
        """``limiter``: the desk's counters, where a replayed /link is recognised (and answered no second time)."""
        if not polling and not webhook_secret:
            raise ValueError("webhook mode needs a secret token: every update must prove it comes from Telegram")
        self._polling, self._secret, self._webhook_url = polling, webhook_secret, webhook_url
        self._poll_timeout = poll_timeout
        self._on_message: OnMessage | None = None
        self._failures: dict[int, BaseException] = {}
        self.app = (Application.builder().token(token).base_url(api_url).base_file_url(file_url)
                    .updater(None).build())
        install(self.app, Delivery(deliver=lambda: self._on_message, verifier=verifier,
                                   max_file_bytes=max_file_bytes, failures=self._failures, limiter=limiter))
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None  # made in start(), on the loop that serves

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        """Ready at once when the Bot API answers; otherwise it keeps trying in the background (a Telegram outage
        must not keep the desk's other channels from starting)."""
        self._on_message = on_message
        self._ready = asyncio.Event()
        try:
            await self._set_up()
        except TelegramError as exc:
            log.error("Telegram: the Bot API did not answer (%s); trying again in the background", exc)
            self._task = asyncio.create_task(self._run(set_up=True), name="telegram")
            return
        if self._polling:
            self._task = asyncio.create_task(self._run(set_up=False), name="telegram polling")

    async def _set_up(self) -> None:
        await self.app.initialize()  # getMe: the bot's id and username (mentions, /cmd@bot); a no-op the second time
        await self.app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        if self._polling:
            await self.app.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        else:
            await self.app.bot.set_webhook(self._webhook_url, secret_token=self._secret,
                                           allowed_updates=list(ALLOWED_UPDATES))
        await self.app.start()
        assert self._ready is not None
        self._ready.set()

    async def stop(self) -> None:
        self._on_message = None
        if self._task is not None:
            self._task.cancel()  # the long poll in flight is abandoned; its updates come again
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _run(self, *, set_up: bool) -> None:
        failures = 0
        while set_up:
            try:
                await self._set_up()
                set_up = False
            except TelegramError as exc:
                failures += 1
                log.warning("Telegram: still no answer from the Bot API (%s)", exc)
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
        if self._polling:
            await self._poll()

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.app.bot.get_updates(offset=offset, timeout=self._poll_timeout,
                                                         allowed_updates=list(ALLOWED_UPDATES))
            except TelegramError as exc:
                failures += 1
                log.warning("Telegram getUpdates failed: %s", exc)
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
                continue
            failures = 0
            for update in updates:
                for attempt in range(1, MAX_UPDATE_ATTEMPTS + 1):  # the offset stays on it until it is committed
                    if await self._process(update):
                        break
                    if attempt == MAX_UPDATE_ATTEMPTS:  # one update that always fails must not stop the rest
                        log.error("Telegram update %s dropped after %d attempts", update.update_id, attempt)
                    else:
                        await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS)) - 1])
                offset = update.update_id + 1

    async def _process(self, update: Update) -> bool:
        """Run the handlers on one update; False when the inbox did not take what it carried."""
        await self.app.process_update(update)
        return self._failures.pop(update.update_id, None) is None

    # --- webhook ------------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route(WEBHOOK_PATH, self._webhook, methods=["POST"], include_in_schema=False,
                             response_model=None)
        return router

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if self._secret is None or not hmac.compare_digest(given.encode(), self._secret.encode()):
            return _error(403, "forbidden", f"wrong or missing {SECRET_HEADER}")
        if self._ready is None or not self._ready.is_set() or self._on_message is None:
            return _error(503, "unavailable", "the Telegram channel is not running")
        try:
            update = Update.de_json(await request.json(), self.app.bot)
        except Exception:  # noqa: BLE001 - not JSON, or not an update
            return _error(400, "invalid_request", "the body is not a Telegram update")
        if update is None:
            return _error(400, "invalid_request", "the body is not a Telegram update")
        if not await self._process(update):
            return _error(500, "not_stored", "the update could not be stored: deliver it again")
        return Response(status_code=200)

    # --- outbound ----------------------------------------------------------------------------------

    async def send(self, ref: ConversationRef, reply: Reply) -> str | None:
        if ref.channel != CHANNEL:
            raise SendError(f"Telegram cannot deliver to a {ref.channel!r} conversation")
        try:
            chat_id = int(ref.address)
        except ValueError:
            raise Undeliverable(f"{ref.address!r} is not a Telegram chat id") from None
        sent = None
        try:
            for piece in render(reply):
                sent = await self.app.bot.send_message(chat_id, piece.html, parse_mode=PARSE_MODE,
                                                       reply_markup=piece.keyboard,
                                                       link_preview_options=LinkPreviewOptions(is_disabled=True))
        except RetryAfter as exc:
            with warnings.catch_warnings():  # PTB 22 warns that the int becomes a timedelta: both are read
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            raise RateLimited(seconds, "Telegram answered 429") from exc
        except Forbidden as exc:
            raise Undeliverable(f"Telegram refused the message to chat {chat_id} (403): {exc.message}") from exc
        except BadRequest as exc:
            raise Undeliverable(f"Telegram refused the message to chat {chat_id} (400): {exc.message}") from exc
        except TelegramError as exc:
            raise SendError(f"Telegram did not take the message: {type(exc).__name__}: {exc.message}") from exc
        return str(sent.message_id) if sent is not None else None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
