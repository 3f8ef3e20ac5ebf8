"""A ``Reply`` as Telegram messages in its HTML parse mode.

The reply's text is Markdown (``bot.rich_text``): it becomes <b>, <i>, <a href>, <code> and <pre>, and every other
character is escaped, so text quoted from a person (``<b>``, ``*``, ``[x](javascript:...)``) arrives as the
characters it is. Links to articles are the bot's own (http and https only). A text above Telegram's 4,096
characters (counted as Telegram does: after its entities are parsed, in UTF-16 units) is split between paragraphs
(then lines, then words, and only a word longer than a whole message is cut): the tags open at a cut are closed at
the end of one piece and opened again at the start of the next, and an escape (``&amp;``) or a character is never
cut in two, so every piece is valid HTML with every entity whole. The buttons go with the last piece.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversation import Reply
from bot.rich_text import safe_url, to_telegram

PARSE_MODE = "HTML"
MAX_MESSAGE = 4096  # Telegram's limit, in UTF-16 code units of the text after its entities are parsed
MAX_CALLBACK_DATA = 64  # bytes
_SEPARATORS = ("\n\n", "\n", " ")  # where a long text is cut, best first
_TAG = re.compile(r"<[^<>]*>")
# One thing of our own markup: a tag, an escape, or one character (a whole code point: never half an emoji).
_ATOM = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]{1,32};|.", re.DOTALL)


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
    texts = split(to_telegram(reply.text), limit)
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
    if safe_url(url) is None or url.lower().startswith("mailto:"):
        return escape(f"{label}: {url}")
    return f'<a href="{html.escape(url, quote=True)}">{escape(label)}</a>'


@dataclass(frozen=True)
class _Atom:
    markup: str
    units: int  # what Telegram counts of it (0 for a tag)
    tag: str = ""  # the tag's name ("b", "a", ...) when it is one
    closing: bool = False


def _atoms(markup: str) -> list[_Atom]:
    atoms = []
    for match in _ATOM.finditer(markup):
        token = match[0]
        if len(token) > 1 and token[0] == "<":
            atoms.append(_Atom(token, 0, token.strip("</>").split(" ", 1)[0], token.startswith("</")))
        else:
            atoms.append(_Atom(token, units(html.unescape(token))))
    return atoms


def split(markup: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Our Telegram HTML ``markup`` in pieces Telegram shows as at most ``limit`` units each: between paragraphs
    where it can, then lines, then words; every piece closes the tags it opened and reopens those still open."""
    atoms = _atoms(markup.strip())
    pieces: list[str] = []
    open_tags: list[_Atom] = []  # open at the start of the piece being made
    start = 0
    while start < len(atoms):
        end, total, cuts = start, 0, {s: -1 for s in _SEPARATORS}
        while end < len(atoms) and total + atoms[end].units <= limit:
            if atoms[end].markup == "\n":
                cuts["\n\n" if end > start and atoms[end - 1].markup == "\n" else "\n"] = end
            elif atoms[end].markup == " ":
                cuts[" "] = end
            total += atoms[end].units
            end += 1
        if end < len(atoms):
            end = next((cuts[s] for s in _SEPARATORS if cuts[s] > start), end)
            end = max(end, start + 1)  # a character wider than the limit still moves on
        piece, still_open = _balanced(open_tags, atoms[start:end])
        if shown(piece.strip()):
            pieces.append(piece.strip())
        open_tags, start = still_open, end
        while start < len(atoms) and atoms[start].markup.isspace():  # the separator itself is dropped
            start += 1
    return pieces


def _balanced(open_tags: list[_Atom], atoms: list[_Atom]) -> tuple[str, list[_Atom]]:
    """The piece's markup with ``open_tags`` reopened before it and whatever is open at its end closed after it;
    and the tags open at its end."""
    stack = list(open_tags)
    for atom in atoms:
        if atom.tag and atom.closing:
            if stack and stack[-1].tag == atom.tag:
                stack.pop()
        elif atom.tag:
            stack.append(atom)
    body = "".join(t.markup for t in open_tags) + "".join(a.markup for a in atoms)
    return body + "".join(f"</{t.tag}>" for t in reversed(stack)), stack
