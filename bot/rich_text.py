"""A reply's text is Markdown: this module parses it into a small typed tree and renders the tree for each platform.

The subset (what the bot, the KB and agents may write in a ``Reply``'s text; anything else is shown as text):

- emphasis: ``**bold**`` (or ``__bold__``), ``*italic*`` or ``_italic_``;
- inline code ``\\`code\\``` and code blocks (fenced with three backticks, or indented four spaces);
- links ``[text](url)`` to ``http``, ``https`` and ``mailto`` URLs only: a link to anything else
  (``javascript:``, ``data:``, a relative path) becomes its text; a bare ``http(s)://`` URL in text is a link too;
- paragraphs (a blank line between them); a single line break stays a line break;
- bullet (``-``, ``*``, ``+``) and numbered (``1.``) lists, nested by indenting;
- headings (``#`` ... ``######``), shown as bold lines in chat; block quotes are shown as their text, images as a
  link to the image, rules not at all. Raw HTML is never markup: ``<b>`` is the three characters it is.

Renderers: ``to_html`` (sanitised HTML built from the tree, never from the source: the web chat and the HTML part
of mail), ``to_slack`` (Slack mrkdwn), ``to_telegram`` (Telegram's HTML parse mode) and ``to_plain`` (markup
removed, links as "text (url)": the plain part of mail, the terminal).

Text that is not the bot's own (a ticket's subject, a file name, a person's words) goes into a reply through
``quote``, which escapes it for Markdown so that it reaches the person as the characters that were written.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

LINK_SCHEMES = frozenset({"http", "https", "mailto"})


# --- the tree ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class LineBreak:
    pass


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Emphasis:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Link:
    url: str  # always one of LINK_SCHEMES
    children: tuple[Inline, ...]


Inline = Text | LineBreak | Code | Strong | Emphasis | Link


@dataclass(frozen=True)
class Paragraph:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class CodeBlock:
    text: str


@dataclass(frozen=True)
class ListItem:
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class BulletList:
    items: tuple[ListItem, ...]


@dataclass(frozen=True)
class OrderedList:
    items: tuple[ListItem, ...]
    start: int = 1


Block = Paragraph | Heading | CodeBlock | BulletList | OrderedList


# --- parsing -------------------------------------------------------------------------------------------------------

# A bare web address in text, up to a space or a bracket; a final full stop or comma is the sentence's, not the URL's.
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]]+")
_URL_TRAILER = ".,;:!?'\""


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = lambda url: True  # every link is parsed; safe_url decides which stay links
    return md


def safe_url(url: str) -> str | None:
    """``url`` if a reply may link to it (an http(s) address with a host, or a mailto), else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES or (scheme != "mailto" and not parts.netloc):
        return None
    return url.strip()


@lru_cache(maxsize=256)
def parse(markdown: str) -> tuple[Block, ...]:
    """The blocks of a reply's text (see the module's docstring for the subset). Immutable, so they are kept: a
    mail renders each reply twice (plain text and HTML), and markdown-it took a quarter of its making."""
    blocks, _ = _blocks(_markdown().parse(markdown), 0, "")
    return tuple(blocks)


def _blocks(tokens: Sequence[Token], i: int, until: str) -> tuple[list[Block], int]:
    """Blocks from ``tokens[i]`` up to the closing token ``until`` (or the end); returns them and the index after."""
    out: list[Block] = []
    while i < len(tokens):
        token = tokens[i]
        if token.type == until:
            return out, i + 1
        if token.type in ("paragraph_open", "heading_open"):
            children = tuple(_inlines(tokens[i + 1].children or []))
            out.append(Heading(children) if token.type == "heading_open" else Paragraph(children))
            i += 3
        elif token.type in ("code_block", "fence"):
            out.append(CodeBlock(token.content.rstrip("\n")))
            i += 1
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            items, i = _items(tokens, i + 1, token.type.replace("_open", "_close"))
            start = token.attrGet("start")
            out.append(BulletList(items) if token.type == "bullet_list_open"
                       else OrderedList(items, int(start) if start is not None else 1))
        elif token.type == "blockquote_open":
            quoted, i = _blocks(tokens, i + 1, "blockquote_close")
            out.extend(quoted)
        else:  # a rule (hr), or anything the subset does not show
            i += 1
    return out, i


def _items(tokens: Sequence[Token], i: int, until: str) -> tuple[tuple[ListItem, ...], int]:
    items: list[ListItem] = []
    while i < len(tokens) and tokens[i].type != until:
        blocks, i = _blocks(tokens, i + 1, "list_item_close")  # tokens[i] is list_item_open
        items.append(ListItem(tuple(blocks)))
    return tuple(items), i + 1


def _inlines(tokens: Sequence[Token]) -> list[Inline]:
    stack: list[tuple[str, str, list[Inline]]] = [("", "", [])]  # (kind, url, children) of each open span
    for token in tokens:
        children = stack[-1][2]
        if token.type == "text":
            children.extend(_linked_text(token.content))
        elif token.type in ("softbreak", "hardbreak"):
            children.append(LineBreak())
        elif token.type == "code_inline":
            children.append(Code(token.content))
        elif token.type in ("strong_open", "em_open", "link_open"):
            stack.append((token.type, str(token.attrGet("href") or ""), []))
        elif token.type in ("strong_close", "em_close", "link_close") and len(stack) > 1:
            kind, url, inner = stack.pop()
            stack[-1][2].extend(_span(kind, url, tuple(inner)))
        elif token.type == "image":
            alt = tuple(_inlines(token.children or [])) or (Text(str(token.attrGet("src") or "")),)
            stack[-1][2].extend(_span("link_open", str(token.attrGet("src") or ""), alt))
    while len(stack) > 1:  # markdown-it closes every span it opens; this only guards the tree
        kind, url, inner = stack.pop()
        stack[-1][2].extend(_span(kind, url, tuple(inner)))
    return stack[0][2]


def _span(kind: str, url: str, children: tuple[Inline, ...]) -> list[Inline]:
    if kind == "strong_open":
        return [Strong(children)]
    if kind == "em_open":
        return [Emphasis(children)]
    href = safe_url(url)
    if href is None:
        return list(children)  # a link to an unsafe URL is its text
    return [Link(href, tuple(c for child in children for c in _unlinked(child)))]


def _unlinked(node: Inline) -> list[Inline]:
    """A bare URL inside a link's own text is not a second link."""
    if isinstance(node, Link):
        return list(node.children)
    return [node]


def _linked_text(text: str) -> list[Inline]:
    out: list[Inline] = []
    at = 0
    for match in _BARE_URL.finditer(text):
        url = match[0].rstrip(_URL_TRAILER)
        if safe_url(url) is None:
            continue
        if match.start() > at:
            out.append(Text(text[at:match.start()]))
        out.append(Link(url, (Text(url),)))
        at = match.start() + len(url)
    if at < len(text):
        out.append(Text(text[at:]))
    return out


# --- quoting outside text ------------------------------------------------------------------------------------------

_INLINE_MARKUP = re.compile(r"[\\`*_\[\]<>&~|]")
# What opens a block at the start of a line: a heading, a quote, a list item ("-", "+", "12." or "3)"), a rule or a
# setext underline ("=", "-"), a fence ("~~~").
_LINE_START_MARKUP = re.compile(r"^([#>+=~-]|\d{1,9}(?=[.)]))", re.MULTILINE)


def quote(text: str) -> str:
    """``text`` as Markdown that shows exactly ``text``: its markup characters escaped, so a subject like
    ``**urgent** <script>`` or ``[x](javascript:...)`` is shown as written and never becomes markup. Leading
    spaces of its lines go (four of them would make a code block)."""
    lines = "\n".join(line.lstrip() for line in text.splitlines())
    escaped = _INLINE_MARKUP.sub(lambda m: "\\" + m[0], lines)
    return _LINE_START_MARKUP.sub(lambda m: m[0] + "\\" if m[0][0].isdigit() else "\\" + m[0], escaped)


# --- rendering -----------------------------------------------------------------------------------------------------


def to_html(markdown: str) -> str:
    """Sanitised HTML: only p, br, strong, em, code, pre, ul, ol, li and a (http, https, mailto; opening in a new
    tab without a referrer); every character of text escaped."""
    return "".join(_html_block(b) for b in parse(markdown))


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_html_inlines(block.children)}</p>"
    if isinstance(block, Heading):
        return f"<p><strong>{_html_inlines(block.children)}</strong></p>"
    if isinstance(block, CodeBlock):
        return f"<pre><code>{html.escape(block.text, quote=False)}</code></pre>"
    items = "".join(f"<li>{_html_item(item)}</li>" for item in block.items)
    if isinstance(block, BulletList):
        return f"<ul>{items}</ul>"
    return f'<ol start="{block.start}">{items}</ol>' if block.start != 1 else f"<ol>{items}</ol>"


def _html_item(item: ListItem) -> str:
    if len(item.blocks) >= 1 and isinstance(item.blocks[0], Paragraph):  # a tight item: its text without a <p>
        return _html_inlines(item.blocks[0].children) + "".join(_html_block(b) for b in item.blocks[1:])
    return "".join(_html_block(b) for b in item.blocks)


def _html_inlines(nodes: Sequence[Inline]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(html.escape(node.text, quote=False))
        elif isinstance(node, LineBreak):
            out.append("<br>")
        elif isinstance(node, Code):
            out.append(f"<code>{html.escape(node.text, quote=False)}</code>")
        elif isinstance(node, Strong):
            out.append(f"<strong>{_html_inlines(node.children)}</strong>")
        elif isinstance(node, Emphasis):
            out.append(f"<em>{_html_inlines(node.children)}</em>")
        else:
            out.append(f'<a href="{html.escape(node.url, quote=True)}" target="_blank" rel="noopener noreferrer">'
                       f"{_html_inlines(node.children)}</a>")
    return "".join(out)


@dataclass(frozen=True)
class _LineMarkup:
    """How a line-based platform writes each inline node (the blocks are laid out the same on all of them)."""

    text: Callable[[str], str]
    code: Callable[[str], str]
    code_block: Callable[[str], str]
    strong: Callable[[str], str]
    emphasis: Callable[[str], str]
    link: Callable[[Link, str], str]  # (the link, its text already rendered)

    def inlines(self, nodes: Sequence[Inline]) -> str:
        out = []
        for node in nodes:
            if isinstance(node, Text):
                out.append(self.text(node.text))
            elif isinstance(node, LineBreak):
                out.append("\n")
            elif isinstance(node, Code):
                out.append(self.code(node.text))
            elif isinstance(node, Strong):
                out.append(self.strong(self.inlines(node.children)))
            elif isinstance(node, Emphasis):
                out.append(self.emphasis(self.inlines(node.children)))
            else:
                out.append(self.link(node, self.inlines(node.children)))
        return "".join(out)

    def blocks(self, blocks: Sequence[Block]) -> list[str]:
        """One string per block; a list item's further lines line up under its text."""
        out = []
        for block in blocks:
            if isinstance(block, Paragraph):
                out.append(self.inlines(block.children))
            elif isinstance(block, Heading):
                out.append(self.strong(self.inlines(block.children)))
            elif isinstance(block, CodeBlock):
                out.append(self.code_block(block.text))
            else:
                lines = []
                for n, item in enumerate(block.items):
                    marker = "• " if isinstance(block, BulletList) else f"{block.start + n}. "
                    lines.append(marker + "\n".join(self.blocks(item.blocks)).replace("\n", "\n" + " " * len(marker)))
                out.append("\n".join(lines))
        return out

    def render(self, markdown: str) -> str:
        return "\n\n".join(self.blocks(parse(markdown)))


def _telegram_escape(text: str) -> str:
    return html.escape(text, quote=False)


def _slack_escape(text: str) -> str:
    """Slack asks for ``&``, ``<`` and ``>`` only; it has no escape for ``*``, ``_``, ``~`` or a backtick, so each
    literal one that could open or close formatting (at a word's edge) is fenced with zero-width spaces, which
    keeps it from pairing with another. Inside a word (``password_reset``) Slack formats nothing: it stays as is,
    so agents can copy it."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SLACK_FORMATTING.sub(lambda m: f"\u200b{m[0]}\u200b", escaped)


_SLACK_FORMATTING = re.compile(r"(?<![^\W_])[*_~`]|[*_~`](?![^\W_])")


def _slack_code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "`"


def _slack_link(link: Link) -> str:
    """Slack shows a link's text as written (no formatting inside it): its plain text, ``&<>`` escaped."""
    label = _PLAIN.inlines(link.children)
    if label == link.url:
        return f"<{link.url}>"
    return f"<{link.url}|{label.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}>"


def _plain_link(link: Link, label: str) -> str:
    if not label or label in (link.url, link.url.removeprefix("mailto:")):
        return label or link.url
    return f"{label} ({link.url})"


_TELEGRAM = _LineMarkup(
    text=_telegram_escape,
    code=lambda t: f"<code>{_telegram_escape(t)}</code>",
    code_block=lambda t: f"<pre>{_telegram_escape(t)}</pre>",
    strong=lambda t: f"<b>{t}</b>",
    emphasis=lambda t: f"<i>{t}</i>",
    link=lambda link, label: f'<a href="{html.escape(link.url, quote=True)}">{label}</a>',
)
_SLACK = _LineMarkup(
    text=_slack_escape,
    code=_slack_code,
    code_block=lambda t: "```\n" + t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "\n```",
    strong=lambda t: f"*{t}*",
    emphasis=lambda t: f"_{t}_",
    link=lambda link, _label: _slack_link(link),
)
_PLAIN = _LineMarkup(
    text=lambda t: t,
    code=lambda t: t,
    code_block=lambda t: t,
    strong=lambda t: t,
    emphasis=lambda t: t,
    link=_plain_link,
)


def to_telegram(markdown: str) -> str:
    """Telegram's HTML parse mode: <b>, <i>, <a href>, <code>, <pre>; every other character escaped."""
    return _TELEGRAM.render(markdown)


def to_slack(markdown: str) -> str:
    """Slack mrkdwn: ``*bold*``, ``_italic_``, ``<url|text>``, code in backticks; ``&``, ``<``, ``>`` escaped."""
    return _SLACK.render(markdown)


def to_plain(markdown: str) -> str:
    """The text without markup; a link is "text (url)" (just the URL when that is its text)."""
    return _PLAIN.render(markdown)
