"""A ``Reply`` as Telegram messages: one parse mode (HTML), everything the bot did not write itself escaped.

User text and KB text are escaped whole (``<``, ``>``, ``&``), so nothing in them can open a tag, a link or
any other entity: ``<b>``, ``*``, ``_`` and ``[x](javascript:...)`` arrive as the characters they are. The only
markup is the bot's own: links to articles (http and https only). A text above Telegram's 4,096 characters
(counted as Telegram does: after its entities are parsed, in UTF-16 units) is split between paragraphs (then
lines, then words) before it is escaped, so no piece ends inside an escape or a link; the buttons go with
the last piece.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversation import Reply

PARSE_MODE = "HTML"
MAX_MESSAGE = 4096  # Telegram's limit, in UTF-16 code units of the text after its entities are parsed
MAX_CALLBACK_DATA = 64  # bytes
_SEPARATORS = ("\n\n", "\n", " ")
_TAG = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class Piece:
    html: str
    keyboard: InlineKeyboardMarkup | None = None


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def shown(markup: str) -> int:
    """How long Telegram finds a piece of our HTML: its text once tags are parsed and escapes resolved."""
    return units(html.unescape(_TAG.sub("", markup)))


def render(reply: Reply, *, limit: int = MAX_MESSAGE) -> list[Piece]:
    links = [_link(f"{a.article_id} {a.title}", a.url) for a in reply.articles]
    links += [_link(b.label, b.url) for b in reply.buttons if b.url]
    answers = [b for b in reply.buttons if not b.url]
    keyboard_buttons = [b for b in answers if len(b.value.encode()) <= MAX_CALLBACK_DATA]
    texts = [escape(p) for p in split(reply.text, limit)]
    if len(keyboard_buttons) < len(answers):  # a value too long for callback data: the choices as text instead
        texts.append(escape("(reply " + " or ".join(b.value.upper() for b in answers) + ")"))
        keyboard_buttons = []
    for link in links:
        if texts and shown(texts[-1]) + 1 + shown(link) <= limit:
            texts[-1] = f"{texts[-1]}\n{link}"
        else:
            texts.append(link)
    if not texts:
        texts = [escape("…")]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.value)
                                      for b in keyboard_buttons]]) if keyboard_buttons else None
    return [Piece(t) for t in texts[:-1]] + [Piece(texts[-1], keyboard)]


def _link(label: str, url: str) -> str:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return escape(f"{label}: {url}")
    return f'<a href="{html.escape(url, quote=True)}">{escape(label)}</a>'


def split(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """``text`` in pieces of at most ``limit``: between paragraphs where it can, then lines, then words, and only
    a word longer than a whole message is cut."""
    text = text.strip()
    if not text:
        return []
    if units(text) <= limit:
        return [text]
    for separator in _SEPARATORS:
        parts = text.split(separator)
        if len(parts) == 1:
            continue
        pieces: list[str] = []
        current = ""
        for part in parts:
            candidate = f"{current}{separator}{part}" if current else part
            if units(candidate) <= limit:
                current = candidate
                continue
            if current:
                pieces.append(current)
            current = part
        pieces.append(current)
        return [p for piece in pieces for p in split(piece, limit)]
    cut = _longest_prefix(text, limit)
    return [text[:cut], *split(text[cut:], limit)]


def _longest_prefix(text: str, limit: int) -> int:
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if units(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
