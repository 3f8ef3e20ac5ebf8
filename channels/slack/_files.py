"""Files shared in Slack messages (``files[]`` of a message event): fetched with the bot token, handed to the bot
as attachments like a mail's. The bot screens them (``bot.attachments``); one the channel could not fetch goes
over empty with its size, so the bot notes it on the ticket and tells the person, rather than it vanishing.

Fetched before the ack like the rest of the message, within one deadline for all of a message's files so that
Slack's 3 seconds hold; a file not fetched in time counts as one that could not be fetched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.conversation import Attachment

log = logging.getLogger("deskbot.slack")

SLACK_FILES_ORIGIN = "https://files.slack.com"
# Modes of a file object that carry no bytes to fetch: deleted, or hidden by the workspace's plan limits.
_GONE_MODES = ("tombstone", "hidden_by_limit")


@dataclass(frozen=True)
class SharedFile:
    """A file as a message event describes it."""

    name: str
    content_type: str
    size: int | None
    url: str  # url_private_download, else url_private ("" when Slack gives none)
    mode: str  # hosted, snippet, external (a link to Google Drive and the like), tombstone...
    link: str  # what a person opens (permalink), for a file that is a link elsewhere

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> SharedFile:
        size = raw.get("size")
        return cls(name=str(raw.get("name") or raw.get("title") or f"file-{raw.get('id', 'unnamed')}"),
                   content_type=str(raw.get("mimetype") or "application/octet-stream"),
                   size=size if isinstance(size, int) and size >= 0 else None,
                   url=str(raw.get("url_private_download") or raw.get("url_private") or ""),
                   mode=str(raw.get("mode") or "hosted"),
                   link=str(raw.get("permalink") or raw.get("url_private") or ""))

    def not_fetched(self) -> Attachment:
        return Attachment(self.name, self.content_type, b"", size=self.size or 0)


@dataclass(frozen=True)
class Fetched:
    attachments: tuple[Attachment, ...]
    links: tuple[str, ...]  # external files ("name: link"): no bytes, the link goes with the text


class FileFetcher:
    """GETs Slack's private file URLs with ``Authorization: Bearer <bot token>``, only from Slack's own file origin
    (or the one of the Web API URL the channel talks to): the token goes nowhere a payload could name."""

    def __init__(self, *, token: str, api_url: str, max_bytes: int, deadline: float = 2.0):
        api = urlsplit(api_url)
        self._origins = frozenset({SLACK_FILES_ORIGIN, f"{api.scheme}://{api.netloc}"})
        self._token, self.max_bytes, self.deadline = token, max_bytes, deadline

    async def fetch(self, files: Sequence[Any]) -> Fetched:
        shared = [SharedFile.of(f) for f in files if isinstance(f, Mapping)]
        links = tuple(f"{f.name}: {f.link}" for f in shared if f.mode == "external" and f.link)
        wanted = [f for f in shared if f.mode != "external"]
        if not wanted:
            return Fetched((), links)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self._token}"}) as session:
            tasks = [asyncio.ensure_future(self._one(session, f)) for f in wanted]
            done, pending = await asyncio.wait(tasks, timeout=self.deadline)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        out = []
        for file, task in zip(wanted, tasks):
            if task in done and task.exception() is None:
                out.append(task.result())
            else:
                why = "not fetched within the deadline" if task in pending else f"failed: {task.exception()}"
                log.warning("Slack file %r %s", file.name, why)
                out.append(file.not_fetched())
        return Fetched(tuple(out), links)

    async def _one(self, session: aiohttp.ClientSession, file: SharedFile) -> Attachment:
        if file.mode in _GONE_MODES or not file.url:
            log.warning("Slack file %r has nothing to fetch (mode %s)", file.name, file.mode)
            return file.not_fetched()
        if file.size is not None and file.size > self.max_bytes:
            return file.not_fetched()  # refused by its size, unfetched: the bot says why
        parts = urlsplit(file.url)
        if f"{parts.scheme}://{parts.netloc}" not in self._origins:
            log.warning("Slack file %r is at %s, not Slack's file host: not fetched", file.name, parts.netloc)
            return file.not_fetched()
        try:
            # No redirects: Slack redirects a token without files:read to its sign-in page, and the token
            # must not follow a redirect anywhere.
            async with session.get(file.url, allow_redirects=False) as response:
                if response.status != 200:
                    log.warning("Slack file %r: HTTP %d", file.name, response.status)
                    return file.not_fetched()
                if response.content_type == "text/html" and file.content_type != "text/html":
                    log.warning("Slack file %r: a web page came instead (files:read scope missing?)", file.name)
                    return file.not_fetched()
                chunks, total = [], 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    chunks.append(chunk)
                    total += len(chunk)
                    if total > self.max_bytes:
                        break
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("Slack file %r: %s: %s", file.name, type(exc).__name__, exc)
            return file.not_fetched()
        if total > self.max_bytes:  # bigger than its size said: refused as too large, its bytes dropped
            return Attachment(file.name, file.content_type, b"", size=total)
        return Attachment(file.name, file.content_type, b"".join(chunks))
