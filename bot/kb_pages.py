"""The knowledge base as web pages: ``/kb`` lists the articles, ``/kb/KB-0007`` shows one (the desk's published
articles; ``render_article`` is also the console editor's preview, so a preview looks as the page will).

Every answer the bot gives links to its article here (the ``kb_url`` setting), on every
channel. Articles are Markdown; raw HTML in them is shown as text, never run.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from desk import DatabaseUnavailable

if TYPE_CHECKING:
    from nlp import Article

_ARTICLE_ID = re.compile(r"\bKB-\d{4}(?:-[a-z]{2})?\b")
_LANGUAGES = {"en": "English", "fr": "Français"}

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }}
header p, footer {{ color: #666; font-size: .9rem; }}
code {{ background: #f2f2f2; padding: 0 .2rem; border-radius: 3px; }}
li {{ margin: .25rem 0; }}
a {{ color: #0b5cad; }}
</style></head>
<body>{body}</body></html>"""


@lru_cache(maxsize=1)
def _markdown():  # noqa: ANN202
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False})  # raw HTML is escaped


def _page(title: str, body: str, *, lang: str = "en", status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(lang=html.escape(lang), title=html.escape(title), body=body), status_code=status)


def _linked(text: str, base: str, known: Mapping[str, Article]) -> str:
    """Mentions of other articles ("see KB-0071") become links to them."""
    return _ARTICLE_ID.sub(lambda m: f"[{m[0]}]({base}/{m[0]})" if m[0] in known else m[0], text)


def render_article(article: Article, articles: Mapping[str, Article], *, base: str = "/kb") -> str:
    """The article's page body (HTML)."""
    markdown = _markdown()
    parts = [f"<p><a href=\"{base}\">Knowledge base</a> › {html.escape(article.category)}</p>",
             f"<header><h1>{html.escape(article.title)}</h1>",
             f"<p>{html.escape(article.id)} · updated {article.updated.isoformat()}"]
    versions = [a for a in articles.values() if a.canonical_id == article.canonical_id and a.id != article.id]
    for other in sorted(versions, key=lambda a: a.lang):
        language = _LANGUAGES.get(other.lang, other.lang)
        parts.append(f" · <a href=\"{base}/{html.escape(other.id)}\" hreflang=\"{html.escape(other.lang)}\">"
                     f"{html.escape(language)}</a>")
    parts.append("</p></header>")
    for position, section in enumerate(article.sections):
        if not (position == 0 and section.heading == "Summary"):  # the text before the first heading
            parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        parts.append(markdown.render(_linked(section.text, base, articles)))
    parts.append("<footer>Still stuck? Reply to the message that sent you here and the IT service desk takes it "
                 "from there.</footer>")
    return "".join(parts)


def render_index(articles: Mapping[str, Article], *, base: str = "/kb") -> str:
    by_category: dict[str, list[Article]] = {}
    for article in articles.values():
        by_category.setdefault(article.category, []).append(article)
    parts = ["<h1>IT knowledge base</h1>", f"<p>{len(articles)} articles</p>"]
    for category in sorted(by_category):
        parts.append(f"<h2>{html.escape(category)}</h2><ul>")
        for article in sorted(by_category[category], key=lambda a: (a.lang != "en", a.id)):
            language = "" if article.lang == "en" else f" ({html.escape(_LANGUAGES.get(article.lang, article.lang))})"
            parts.append(f"<li><a href=\"{base}/{html.escape(article.id)}\">{html.escape(article.title)}</a>{language}</li>")
        parts.append("</ul>")
    return "".join(parts)


def _unavailable() -> HTMLResponse:
    return _page("Knowledge base unavailable", "<h1>The knowledge base cannot be read right now</h1>"
                                               "<p>Please try again in a few minutes.</p>", status=503)


def kb_router(*, articles: Callable[[], Mapping[str, Article]], base: str = "/kb",
              viewed: Callable[[str], None] | None = None) -> APIRouter:
    """``GET {base}`` and ``GET {base}/{article_id}``; ``articles`` is read on each request (the desk's published
    articles: an article published a moment ago shows at once); ``viewed`` counts each article page served."""
    router = APIRouter()

    def index() -> HTMLResponse:
        try:
            known = articles()
        except DatabaseUnavailable:
            return _unavailable()
        return _page("IT knowledge base", render_index(known, base=base))

    def article(article_id: str) -> HTMLResponse:
        try:
            known = articles()
        except DatabaseUnavailable:
            return _unavailable()
        found = known.get(article_id) or known.get(article_id.upper())
        if found is None:
            return _page("Article not found", f"<h1>No article {html.escape(article_id)}</h1>"
                                              f"<p>It may have been removed. <a href=\"{base}\">All articles</a></p>",
                         status=404)
        if viewed is not None:
            with contextlib.suppress(DatabaseUnavailable):  # a view not counted is no reason to refuse the page
                viewed(found.id)
        return _page(found.title, render_article(found, known, base=base), lang=found.lang)

    router.add_api_route(base, index, methods=["GET"], include_in_schema=False, response_model=None)
    router.add_api_route(f"{base}/{{article_id}}", article, methods=["GET"], include_in_schema=False,
                         response_model=None)
    return router
