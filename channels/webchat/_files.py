"""A file the web chat page uploads: its name and type from the request, its bytes up to the channel's limit.

The channel only takes the file in; which files the desk keeps (refused types, the size limit) the bot decides
for every channel alike, and its reply says so.
"""

from __future__ import annotations

import re
import unicodedata

from fastapi import Request

from bot.conversation import Attachment
from channels.webchat._http import Problem

MAX_NAME = 200
_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def megabytes(size: int) -> str:
    """A size as people read it: "10 MB", "2.5 MB", "48 KB"."""
    if size < 1024 * 1024:
        return f"{max(1, size // 1024)} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def too_large(max_bytes: int) -> Problem:
    return Problem(413, f"the file is too large: at most {megabytes(max_bytes)} ({max_bytes:,} bytes)",
                   max_bytes=max_bytes)


def file_name(value: str | None) -> str:
    """The name as the page sent it, without any folder part, or a 422."""
    name = unicodedata.normalize("NFC", (value or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if not name or name in (".", ".."):
        raise Problem(422, "'name' is required: the file's name")
    if len(name) > MAX_NAME or any(unicodedata.category(c).startswith("C") for c in name):
        raise Problem(422, f"the file name must be at most {MAX_NAME} printable characters")
    return name


def content_type(value: str | None) -> str:
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind if _TYPE.fullmatch(kind) else "application/octet-stream"


async def read_file(request: Request, *, name: str, max_bytes: int) -> Attachment:
    """The body as an attachment; 413 past ``max_bytes`` (declared or counted), 422 when it is empty."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    if not body:
        raise Problem(422, f"the file {name!r} is empty")
    return Attachment(filename=name, content_type=content_type(request.headers.get("content-type")),
                      content=bytes(body))
