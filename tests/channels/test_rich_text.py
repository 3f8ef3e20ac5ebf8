"""A reply's Markdown on every channel: each KB article answered by the bot, through the rendering function each
channel builds its payload with, shows no Markdown source and keeps its links; text quoted from a person arrives as
the characters it is, harmless, everywhere."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.attachments import Refused
from bot.conversation import Attachment, Reply
from bot.rich_text import Link, parse, quote, to_html, to_plain
from bot.worker import _wording as say
from channels.email._render import html_body, plain_body
from channels.slack._blocks import fallback_text, reply_blocks
from channels.telegram._render import render as telegram_render
from channels.webchat._channel import reply_event
from nlp.kb import Article, load_articles

ROOT = Path(__file__).resolve().parents[2]
KB_URL = "https://desk.example.com/kb"
MARKDOWN_SOURCE = ("**", "__", "](")
HOSTILE = "<script>alert(1)</script> <b>bold</b> *star* _under_ [x](javascript:alert(1)) & more"
ZERO_WIDTH_SPACE = "\u200b"


def _articles() -> list[Article]:
    articles, errors = load_articles(ROOT / "kb_articles")
    assert not errors and len(articles) >= 60
    return articles


ARTICLES = _articles()


@dataclass(frozen=True)
class Shown:
    """What one channel sends for a reply: the strings a person reads, and how a link to ``url`` looks in them."""

    channel: str
    texts: tuple[str, ...]

    def joined(self) -> str:
        return "\n".join(self.texts)


def every_channel(reply: Reply) -> list[Shown]:
    blocks = reply_blocks(reply)
    slack = [fallback_text(reply)] + [b["text"]["text"] for b in blocks if b["type"] == "section"]
    slack += [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    event = json.loads(reply_event(reply))
    return [
        Shown("telegram", tuple(p.html for p in telegram_render(reply))),
        Shown("slack", tuple(slack)),
        Shown("webchat", (event["html"], *(a["url"] for a in event["articles"]))),  # the page links the articles
        Shown("webchat text", (event["text"],)),  # the plain form, which the page only ever inserts as text
        Shown("email html", (html_body(reply),)),
        Shown("email plain", (plain_body(reply),)),
    ]


def links_in(markdown: str) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Link):
            found.append(node.url)
        for child in getattr(node, "children", ()) or getattr(node, "items", ()) or getattr(node, "blocks", ()):
            walk(child)

    for block in parse(markdown):
        walk(block)
    return found


def link_shown(shown: Shown, url: str) -> bool:
    text = shown.joined()
    if shown.channel in ("telegram", "webchat", "email html") and f'href="{html.escape(url, quote=True)}"' in text:
        return True
    if shown.channel == "slack":
        return f"<{url}|" in text or f"<{url}>" in text
    # plain text: the URL itself, whole (a sentence's full stop or bracket may follow it)
    return shown.channel in ("email plain", "webchat text") and re.search(re.escape(url) + r"(?![\w/%#?=&-])", text) is not None


@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_every_article_answered_on_every_channel_shows_no_markdown_and_keeps_its_links(article: Article) -> None:
    answer = say.kb_answer(article, KB_URL)
    whole = Reply("\n\n".join(f"## {s.heading}\n{s.text}" for s in article.sections), articles=answer.articles)
    for reply in (answer, whole):
        urls = links_in(reply.text)
        for shown in every_channel(reply):
            text = shown.joined().replace(ZERO_WIDTH_SPACE, "")
            for source in MARKDOWN_SOURCE:
                assert source not in text, f"{article.id} on {shown.channel}: {source!r} reaches the person"
            for url in urls:
                assert link_shown(shown, url), f"{article.id} on {shown.channel}: the link to {url} is lost"
            if shown.channel != "webchat text":  # the web chat's articles are a list of their own (in "webchat")
                assert f"{KB_URL}/{article.id}" in text, f"{article.id} on {shown.channel}: no link to the article"
    assert answer.text.startswith(f"**{quote(article.title)}**")  # the bot's answer: its title, the steps, a link


def test_the_kb_answers_carry_their_steps_formatted_on_each_channel() -> None:
    article = next(a for a in ARTICLES if a.id == "KB-0001")
    shown = {s.channel: s.joined() for s in every_channel(say.kb_answer(article, KB_URL))}
    assert "<b>Windows 11:</b>" in shown["telegram"] and "*Windows 11:*" in shown["slack"]
    assert "<strong>Windows 11:</strong>" in shown["webchat"] and "<strong>Windows 11:</strong>" in shown["email html"]
    assert "Windows 11:" in shown["email plain"] and "*" not in shown["email plain"]
    assert "<ol>" in shown["webchat"] and "\n2. Enter your company username" in shown["telegram"]


def test_text_quoted_from_a_person_arrives_literal_and_harmless_on_every_channel() -> None:
    refused = [Refused(Attachment(HOSTILE, "application/x-msdownload", b"MZ"), "executable files are not kept")]
    reply = Reply(say.refused_attachments("Thanks, I've opened ticket #1042.", refused))
    assert to_plain(reply.text).count(HOSTILE) == 1
    for shown in every_channel(reply):
        text = shown.joined()
        if shown.channel in ("email plain", "webchat text"):  # plain text: the very characters
            assert HOSTILE in text
            continue
        assert "<script" not in text.lower() and "<b>" not in text
        assert 'href="javascript' not in text and "<javascript" not in text and "|x>" not in text
        if shown.channel == "slack":  # Slack escapes only &, <, >; the rest is kept from pairing into formatting
            assert html.unescape(text.replace(ZERO_WIDTH_SPACE, "")).count(HOSTILE) >= 1
        else:  # HTML of one kind or another: the characters, escaped
            assert html.escape(HOSTILE, quote=False) in text, shown.channel


@pytest.mark.parametrize("written", [
    HOSTILE, "# not a heading", "1. not a list", "- not a bullet", "    not code", "> not a quote", "===",
    "a\\*b\\", "&amp; stays &amp;", "`tick`", "~~~", "<https://evil.example>", "**x** __y__ _z_ *w*",
])
def test_quote_shows_exactly_what_was_written(written: str) -> None:
    assert to_plain(quote(written)) == written.lstrip()
    shown = re.sub(r'<a href="https://[^"]*" [^>]*>|</a>', "", to_html(quote(written)))  # a web address is a link
    assert shown == f"<p>{html.escape(written.lstrip(), quote=False)}</p>"


def test_links_to_anything_but_http_https_and_mailto_become_their_text() -> None:
    markdown = "[a](javascript:alert(1)) [b](data:text/html,x) [c](/kb/KB-0001) [d](https://ok.example/d) " \
               "[e](mailto:it@corp.example) ![f](javascript:x)"
    assert links_in(markdown) == ["https://ok.example/d", "mailto:it@corp.example"]
    assert to_plain(markdown) == "a b c d (https://ok.example/d) e (mailto:it@corp.example) f"
    assert "javascript" not in to_html(markdown) and "data:" not in to_html(markdown)
    assert re.findall(r'href="([^"]+)"', to_html(markdown)) == ["https://ok.example/d", "mailto:it@corp.example"]
