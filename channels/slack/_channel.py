"""The Slack channel: the Bolt app behind deskbot's HTTP app (``/slack/events``, ``/slack/interactivity``,
``/slack/commands``) or over Socket Mode, and replies through the Web API.

``send`` maps Slack's 429 to ``RateLimited(Retry-After)`` and every other failure to ``SendError``;
the dispatcher retries both. It returns the posted message's ``ts``, which the bot keeps for the
threads of its agent posts.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from fastapi import APIRouter, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation import ConversationRef, OnMessage, RateLimited, Reply, SendError
from channels.slack._app import build_app
from channels.slack._files import FileFetcher
from channels.slack._markup import ChannelNames
from channels.slack._users import CHANNEL, UserDirectory
from channels.slack._blocks import fallback_text, home_view, reply_blocks

log = logging.getLogger("deskbot.slack")

SLACK_API_URL = "https://slack.com/api/"
PATHS = ("/slack/events", "/slack/interactivity", "/slack/commands")


class SlackChannel:
    name = CHANNEL

    def __init__(self, *, bot_token: str, signing_secret: str, api_url: str = SLACK_API_URL,
                 app_token: str | None = None, socket_mode: bool = False, command: str = "/it",
                 user_cache_seconds: float = 3600.0, timeout: int = 10, max_file_bytes: int = 10 * 1024 * 1024,
                 file_deadline: float = 2.0):
        """``max_file_bytes``: a shared file above it is not fetched (the bot refuses it by its size);
        ``file_deadline``: seconds all of a message's files may take to fetch, before Slack's 3-second ack."""
        if socket_mode and not app_token:
            raise ValueError("Socket Mode needs an app-level token (xapp-...)")
        self.client = AsyncWebClient(token=bot_token, base_url=api_url if api_url.endswith("/") else api_url + "/",
                                     timeout=timeout)
        self.users = UserDirectory(self.client, ttl=user_cache_seconds)
        self._on_message: OnMessage | None = None
        files = FileFetcher(token=bot_token, api_url=api_url, max_bytes=max_file_bytes, deadline=file_deadline)
        self.app = build_app(signing_secret=signing_secret, client=self.client, users=self.users, files=files,
                             channels=ChannelNames(self.client, ttl=user_cache_seconds),
                             deliver=lambda: self._on_message, command=command)
        self._handler = AsyncSlackRequestHandler(self.app)
        self._app_token, self._socket_mode = app_token, socket_mode
        self._socket = None

    # --- inbound ------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        """The HTTP endpoints (also mounted in Socket Mode: they answer 401 to anything unsigned)."""
        router = APIRouter()

        async def endpoint(request: Request) -> Response:
            try:
                return await self._handler.handle(request)
            except Exception as exc:  # noqa: BLE001 - Bolt failed on the payload's shape (its own errors are
                # answered inside it: 401 bad signature, 500 listener failure): nothing Slack sends, nothing stored
                log.warning("refused a malformed Slack request: %s: %s", type(exc).__name__, exc)
                return Response("malformed request", status_code=400)

        for path in PATHS:
            router.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False)
        return router

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        if self._socket_mode:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self._app_token, web_client=self.client)
            await self._socket.connect_async()

    async def stop(self) -> None:
        self._on_message = None
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None

    # --- outbound -----------------------------------------------------------------------------------

    async def send(self, ref: ConversationRef, reply: Reply) -> str | None:
        if ref.channel != CHANNEL:
            raise SendError(f"Slack cannot deliver to a {ref.channel!r} conversation")
        try:
            if ref.thread == "home":  # the App Home tab of user ``ref.address``
                await self.client.views_publish(user_id=ref.address, view=home_view(reply))
                return None
            mentions = await self._mentions(reply.mentions)
            response = await self.client.chat_postMessage(
                channel=ref.address, thread_ts=ref.thread or None, text=fallback_text(reply, mentions),
                blocks=reply_blocks(reply, mentions), unfurl_links=False)
            return response.get("ts")
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
                try:
                    retry_after = float(headers.get("retry-after", 1))
                except (TypeError, ValueError):
                    retry_after = 1.0
                raise RateLimited(retry_after, "Slack answered 429") from exc
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise SendError(f"Slack API error {status}: {error or exc}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, json.JSONDecodeError) as exc:
            raise SendError(f"Slack unreachable: {type(exc).__name__}: {exc}") from exc

    async def _mentions(self, emails: tuple[str, ...]) -> str:
        parts = []
        for email in emails:
            user_id = await self.users.user_id_for_email(email)
            parts.append(f"<@{user_id}>" if user_id else email)
        return (" ".join(parts) + " ") if parts else ""
