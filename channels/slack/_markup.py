"""Slack's inbound markup as plain text, so that subjects and agents' views read like what the person saw.

Slack sends a message's text with its markup in angle brackets and ``& < >`` escaped: ``<@U123>`` (a person),
``<#C123|general>`` (a channel), ``<https://x|text>`` (a link), ``<!here>`` (a special mention),
``<!subteam^S1|@it-team>`` (a user group), ``<!date^...|fallback>``. A literal ``<`` typed by a person arrives
as ``&lt;``, so every ``<...>`` in the text is markup and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("deskbot.slack")

# [^<>]*: a '<' ends the try, so a run of '<' costs one step each.
_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}

PersonName = Callable[[str], Awaitable[str]]  # a user id -> the name to show ("" when not known)


def unescape(text: str) -> str:
    """Slack's three escapes undone in one pass (``&amp;lt;`` is the text ``&lt;``)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


class ChannelNames:
    """``conversations.info`` with an in-process TTL cache, for ``<#C123>`` sent without its name."""

    def __init__(self, client: AsyncWebClient, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic,
                 timeout: float = 1.5):
        self.client, self.ttl, self.clock, self.timeout = client, ttl, clock, timeout
        self._cache: dict[str, tuple[float, str]] = {}

    async def name(self, channel_id: str) -> str:
        """The channel's name, or "" when Slack does not say (the bot is not in it, a timeout)."""
        now = self.clock()
        hit = self._cache.get(channel_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            response = await asyncio.wait_for(self.client.conversations_info(channel=channel_id), self.timeout)
        except (SlackApiError, OSError, TimeoutError) as exc:
            log.info("conversations.info %s failed: %s", channel_id, exc)
            return ""
        name = (response.get("channel") or {}).get("name") or ""
        self._cache[channel_id] = (now, name)
        return name


async def plain_text(text: str, *, person: PersonName, channels: ChannelNames, drop_user: str | None = None) -> str:
    """``text`` with its markup resolved: people and channels by name, links as ``text (url)``, special
    mentions as ``@here``, escapes undone. ``drop_user``: a user whose mentions go (the bot's own)."""
    tokens = [m.group(1) for m in _MARKUP.finditer(text)]
    people = {t[1:].split("|", 1)[0] for t in tokens if t.startswith("@")} - {drop_user}
    bare_channels = {t[1:] for t in tokens if t.startswith("#") and "|" not in t}
    ids = sorted(people | bare_channels)
    # Looked up at once (each cached, each bounded by its timeout): the ack waits for the slowest, not the sum.
    names = dict(zip(ids, await asyncio.gather(*(person(i) if i in people else channels.name(i) for i in ids))))

    pieces, last = [], 0
    for match in _MARKUP.finditer(text):
        pieces.append(unescape(text[last:match.start()]))
        pieces.append(_resolve(match.group(1), names, drop_user))
        last = match.end()
    pieces.append(unescape(text[last:]))
    return "".join(pieces)


def _resolve(token: str, names: dict[str, str], drop_user: str | None) -> str:
    target, _, label = token.partition("|")
    label = unescape(label)
    if target.startswith("@"):
        user = target[1:]
        if user == drop_user:
            return ""
        return f"@{names.get(user) or label or user}"
    if target.startswith("#"):
        channel = target[1:]
        return f"#{label or names.get(channel) or channel}"
    if target.startswith("!"):
        special = target[1:]
        if label:  # a user group (<!subteam^S1|@it-team>), a date's fallback text
            return label
        return f"@{special.split('^', 1)[0]}"  # <!here>, <!channel>, <!everyone>
    url = unescape(target)
    if not label or label == url or f"mailto:{label}" == url:
        return url.removeprefix("mailto:") if url.startswith("mailto:") else url
    return f"{label} ({url})"
