"""The Bolt app: Slack payloads -> ``InboundMessage``, handed to the bot's inbox before the ack.

The app runs with ``process_before_response``: Slack gets its 200 only after ``on_message``
returned (the message is committed); an exception gives a 500 and Slack delivers again. Keys
are the platform's own ids, so a redelivery (``X-Slack-Retry-Num``) is stored once:

- a message (DM, mention, thread reply): ``slack:<channel>:<ts>``. A mention arrives twice,
  as ``app_mention`` and as ``message``, with two event ids; the message's ts is one.
- a button click: ``slack:action:<channel>:<message ts>:<value>:<user>`` (a double click is one click);
- the slash command: ``slack:command:<trigger_id>``; the message shortcut:
  ``slack:shortcut:<channel>:<message ts>:<user>`` (one ticket per message and person);
- the reply form: ``slack:view:<view id>``; the App Home: ``slack:<event_id>``.

1:1 conversations (DMs, ``/it``, the shortcut, clicks in the DM) use the user's id as the
address: ``chat.postMessage`` to a user id posts in the app's DM with them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation import AgentAction, ConversationRef, InboundMessage
from channels.slack._blocks import ACTION_PREFIX, reply_modal
from channels.slack._files import FileFetcher
from channels.slack._markup import ChannelNames, plain_text
from channels.slack._users import CHANNEL, UserDirectory, Workspace, foreign_team, unverified

log = logging.getLogger("deskbot.slack")

SHORTCUT_CALLBACK = "deskbot_create_ticket"
REPLY_CALLBACK = "deskbot_reply"
_PLAIN_SUBTYPES = (None, "file_share", "thread_broadcast")


class Malformed(Exception):
    """A signed payload that lacks what its type needs: refused with 400, nothing stored."""


Deliver = Callable[[InboundMessage], Awaitable[bool]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _need(mapping: Any, *keys: str) -> Any:
    value = mapping
    for key in keys:
        if not isinstance(value, dict) or key not in value or value[key] in (None, ""):
            raise Malformed(f"payload without {'.'.join(keys)}")
        value = value[key]
    return value


def _home(context: AsyncBoltContext) -> Workspace:
    """The installation's workspace from ``auth.test``, which Bolt asks once (at the first request) and caches."""
    auth = context.authorize_result
    return Workspace(auth.team_id, auth.enterprise_id) if auth is not None else Workspace(None)


def _event_teams(event: dict) -> tuple[str | None, ...]:
    """The sender's team as an event names it (a Slack Connect message carries the sender's organisation)."""
    return event.get("user_team"), event.get("team")


def _user_team(body: dict) -> tuple[str | None, ...]:
    """The clicking or submitting user's team in an interactivity payload."""
    return ((body.get("user") or {}).get("team_id"),)


def _without_tokens(value: Any) -> Any:
    """The payload without Slack's legacy verification ``token`` (a shared secret), at any depth: the signature
    already proved the request, and a stored secret is one that leaks with the audit log."""
    if isinstance(value, dict):
        return {k: _without_tokens(v) for k, v in value.items() if k != "token"}
    if isinstance(value, list):
        return [_without_tokens(v) for v in value]
    return value


def _dm_thread(message: dict) -> str:
    """The thread a DM message is in ("" for a top-level one: a parent with replies carries its own ts)."""
    thread = message.get("thread_ts") or ""
    return thread if thread != message.get("ts") else ""


def build_app(*, signing_secret: str, client: AsyncWebClient, users: UserDirectory, files: FileFetcher,
              channels: ChannelNames, deliver: Callable[[], Deliver | None], command: str = "/it") -> AsyncApp:
    """The Bolt app with deskbot's listeners; ``deliver()`` is the bot's ``on_message`` (None when stopped)."""
    app = AsyncApp(signing_secret=signing_secret, client=client, process_before_response=True,
                   raise_error_for_unhandled_request=False)

    async def hand_over(message: InboundMessage) -> None:
        on_message = deliver()
        if on_message is None:
            raise RuntimeError("the Slack channel is stopped")  # 500: Slack delivers again later
        stored = await on_message(message)
        log.debug("%s %s", message.key, "stored" if stored else "seen before")

    async def readable(text: str, context: AsyncBoltContext, *, without_bot: bool = False) -> str:
        """The text as the person saw it (``bot.conversation``: plain text); ``without_bot``: the bot's own
        mentions taken out (a mention addresses the bot, it is not part of the request)."""
        home = _home(context)

        async def person(user_id: str) -> str:
            return (await users.identity(user_id, home=home)).display_name

        return await plain_text(text, person=person, channels=channels,
                                drop_user=context.get("bot_user_id") if without_bot else None)

    async def with_files(text: str, event: dict) -> tuple[str, dict[str, Any]]:
        """The text and the ``attachments`` of a message event's ``files[]`` (external ones as links in the text)."""
        if not event.get("files"):
            return text, {}
        fetched = await files.fetch(event["files"])
        text = "\n".join([text, *fetched.links]) if text else "\n".join(fetched.links)
        return text, {"attachments": fetched.attachments}

    async def message_from(*, key: str, user: str, ref: ConversationRef, text: str, raw: dict,
                           context: AsyncBoltContext, teams: tuple[str | None, ...] = (), **extra: Any) -> None:
        """``teams``: the payload's own word on the sender's team (Slack Connect names the sender's organisation)."""
        home = _home(context)
        sender = await users.identity(user, home=home)
        foreign = foreign_team(teams, home=home)
        if foreign and sender.email:
            log.info("Slack user %s writes from team %s: their profile email is not trusted", user, foreign)
            sender = unverified(sender)
        await hand_over(InboundMessage(
            key=key, conversation=ref, sender=sender, text=text.strip(), received_at=_now(),
            raw=json.dumps(_without_tokens(raw), ensure_ascii=False)[:100_000],
            # chat.postMessage to a user id: the app's DM with them
            private_ref=ConversationRef(CHANNEL, user, ""),
            **extra))

    @app.error
    async def on_error(error: Exception) -> BoltResponse | None:
        if isinstance(error, Malformed):
            log.warning("refused a Slack payload: %s", error)
            return BoltResponse(status=400, body=str(error))
        log.error("Slack payload not stored: %s", error)
        return None  # 500: Slack retries

    @app.event("message")
    async def on_message_event(body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("subtype") not in _PLAIN_SUBTYPES or event.get("bot_id"):
            return  # edits, deletions, joins, other bots: nothing for the desk
        channel, ts, user = _need(event, "channel"), _need(event, "ts"), _need(event, "user")
        text = event.get("text") or ""
        if event.get("channel_type") == "im":
            # The DM is one conversation with the user (addressed by their id), its threads included: a reply
            # under the bot's "ticket #1000" message follows that ticket up. Answers go where it was written.
            thread = _dm_thread(event)
            text, attached = await with_files(await readable(text, context), event)
            await message_from(key=f"slack:{channel}:{ts}", user=user, ref=ConversationRef(CHANNEL, user, ""),
                               text=text, raw=body, context=context, teams=_event_teams(event),
                               reply_ref=ConversationRef(CHANNEL, channel, thread) if thread else None, **attached)
            return
        thread = event.get("thread_ts")
        bot_user = context.get("bot_user_id")
        if not thread or (bot_user and f"<@{bot_user}>" in text):
            return  # a channel message not in a thread, or a mention (app_mention brings that one)
        # A reply in a thread of a channel: a ticket's agent thread, a requester's mention thread, or
        # nothing the desk knows (then the bot drops it).
        text, attached = await with_files(await readable(text, context), event)
        await message_from(key=f"slack:{channel}:{ts}", user=user, ref=ConversationRef(CHANNEL, channel, thread),
                           text=text, raw=body, context=context, teams=_event_teams(event), overheard=True, **attached)

    @app.event("app_mention")
    async def on_mention(body: dict, event: dict, context: AsyncBoltContext) -> None:
        channel, ts, user = _need(event, "channel"), _need(event, "ts"), _need(event, "user")
        ref = ConversationRef(CHANNEL, channel, event.get("thread_ts") or ts)  # answered in the thread
        text, attached = await with_files(await readable(event.get("text") or "", context, without_bot=True), event)
        await message_from(key=f"slack:{channel}:{ts}", user=user, ref=ref, text=text, raw=body, context=context,
                           teams=_event_teams(event), **attached)

    @app.event("app_home_opened")
    async def on_home(body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("tab") != "home":
            return
        user = _need(event, "user")
        await message_from(key=f"slack:{_need(body, 'event_id')}", user=user,
                           ref=ConversationRef(CHANNEL, user, "home"), text="", raw=body, context=context,
                           action="home")

    @app.command(command)
    async def on_command(ack: Callable[..., Awaitable[None]], body: dict, context: AsyncBoltContext) -> None:
        text = (body.get("text") or "").strip()
        if not text:
            await ack(f"Tell me what is wrong, e.g. `{command} my VPN keeps dropping`.")
            return
        user = _need(body, "user_id")
        await message_from(key=f"slack:command:{_need(body, 'trigger_id')}", user=user,
                           ref=ConversationRef(CHANNEL, user, ""), text=await readable(text, context), raw=body,
                           context=context, new_request=True)
        await ack("Got it: I'll answer in our direct messages.")

    @app.shortcut(SHORTCUT_CALLBACK)
    async def on_shortcut(ack: Callable[..., Awaitable[None]], body: dict, context: AsyncBoltContext) -> None:
        user = _need(body, "user", "id")
        message = _need(body, "message")
        channel = _need(body, "channel", "id")
        text = await readable(message.get("text") or "", context)
        await message_from(key=f"slack:shortcut:{channel}:{_need(message, 'ts')}:{user}", user=user,
                           ref=ConversationRef(CHANNEL, user, ""), text=text or "(a message without text)",
                           raw=body, context=context, teams=_user_team(body), action="open_ticket", new_request=True)
        await ack()

    @app.action(re.compile("^" + re.escape(ACTION_PREFIX)))
    async def on_button(ack: Callable[..., Awaitable[None]], body: dict, action: dict,
                        client: AsyncWebClient, context: AsyncBoltContext) -> None:
        if action.get("url") and "value" not in action:
            await ack()  # a link button: Slack opened the URL, nothing comes back
            return
        chosen = action.get("selected_option") or {}  # a select menu sends its choice, a button its value
        value = chosen.get("value") if action.get("type") == "static_select" else _need(action, "value")
        if not value:
            raise Malformed("a menu action without its selected option")
        user = _need(body, "user", "id")
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        ts = message.get("ts") or container.get("message_ts")
        if not channel or not ts:
            raise Malformed("block_actions without its channel and message")
        agent = AgentAction.from_value(value)
        if agent is not None and agent.kind == "reply":
            # The form: the reply itself arrives with its submission (on_reply_form).
            meta = json.dumps({"ticket": agent.ticket, "channel": channel, "thread": message.get("thread_ts") or ts})
            await client.views_open(trigger_id=_need(body, "trigger_id"),
                                    view=reply_modal(private_metadata=meta, ticket_ref=f"#{agent.ticket}"))
            await ack()
            return
        reply_ref = None
        if agent is not None:
            ref = ConversationRef(CHANNEL, channel, message.get("thread_ts") or ts)
        elif channel.startswith("D"):  # the 1:1 conversation is addressed by the user, its threads included
            ref = ConversationRef(CHANNEL, user, "")
            thread = _dm_thread(message)
            reply_ref = ConversationRef(CHANNEL, channel, thread) if thread else None
        else:
            ref = ConversationRef(CHANNEL, channel, message.get("thread_ts") or ts)
        await message_from(key=f"slack:action:{channel}:{ts}:{value}:{user}", user=user, ref=ref,
                           text=(action.get("text") or {}).get("text", value), raw=body, context=context,
                           teams=_user_team(body), action=None if agent else value, agent=agent, reply_ref=reply_ref)
        await ack()

    @app.view(REPLY_CALLBACK)
    async def on_reply_form(ack: Callable[..., Awaitable[None]], body: dict, view: dict,
                            context: AsyncBoltContext) -> None:
        try:
            meta = json.loads(view.get("private_metadata") or "")
            text = view["state"]["values"]["reply"]["text"]["value"] or ""
            ticket = int(meta["ticket"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Malformed(f"reply form: {exc}") from None
        if not text.strip():
            await ack(response_action="errors", errors={"reply": "Write the reply first."})
            return
        user = _need(body, "user", "id")
        await message_from(key=f"slack:view:{_need(view, 'id')}", user=user,
                           ref=ConversationRef(CHANNEL, meta["channel"], meta["thread"]), text=text, raw=body,
                           context=context, teams=_user_team(body), agent=AgentAction("reply", ticket))
        await ack()

    return app
