"""A ``Reply`` as the two parts of a mail: clean plain text and sanitised HTML, both from the reply's Markdown
(``bot.rich_text``); the articles and link buttons follow the text, the answers a person may type back last."""

from __future__ import annotations

import html
from dataclasses import replace

from bot.conversation import Reply
from bot.rich_text import safe_url, to_html, to_plain

_TYPE_BACK = "(reply YES or NO)"  # what Reply.as_plain_text says of the yes/no buttons
_TYPED_BACK = "Reply YES or NO to this email."


def plain_body(reply: Reply) -> str:
    """The text without markup (links as "text (url)"), then the articles, link buttons and answers as lines."""
    return replace(reply, text=to_plain(reply.text)).as_plain_text().replace(_TYPE_BACK, _TYPED_BACK)


def html_body(reply: Reply) -> str:
    links = [(f"{a.article_id} {a.title}", a.url) for a in reply.articles]
    links += [(b.label, b.url) for b in reply.buttons if b.url]
    parts = [to_html(reply.text)]
    if links:
        parts.append("<ul>" + "".join(f"<li>{_link(label, url)}</li>" for label, url in links) + "</ul>")
    answers = [b.value.upper() for b in reply.buttons if not b.url]
    if answers:
        typed = f"(reply {' or '.join(answers)})"
        parts.append(f"<p>{html.escape(_TYPED_BACK if typed == _TYPE_BACK else typed)}</p>")
    return "<html><body>" + "".join(parts) + "</body></html>"


def _link(label: str, url: str) -> str:
    if safe_url(url) is None:
        return html.escape(f"{label}: {url}")
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'
