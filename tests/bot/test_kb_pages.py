"""The knowledge base as web pages, on a real uvicorn server on loopback: every article the bot links to
opens, in its language, with links to the articles it mentions; raw HTML in an article is shown, not run."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bot.kb_pages import kb_router
from nlp import load_articles
from nlp.kb import Section

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def articles() -> dict:
    found, errors = load_articles(ROOT / "kb_articles")
    assert not errors
    return {a.id: a for a in found}


@pytest.fixture(scope="module")
def kb(articles: dict, on_loopback) -> Iterator[str]:  # noqa: ANN001
    app = FastAPI()
    app.include_router(kb_router(articles=lambda: articles))
    with on_loopback(app) as client:
        yield str(client.base_url).rstrip("/")


def test_every_article_opens_with_its_title_and_steps(kb: str, articles: dict) -> None:
    for article_id, article in articles.items():
        page = httpx.get(f"{kb}/kb/{article_id}")
        assert page.status_code == 200, article_id
        assert page.headers["content-type"].startswith("text/html")
        assert f'<html lang="{article.lang}">' in page.text
        assert re.search(r"<h2>(Steps|Étapes)</h2>", page.text), article_id


def test_an_article_renders_its_markdown_and_links_what_it_mentions(kb: str) -> None:
    page = httpx.get(f"{kb}/kb/KB-0001").text
    assert "<h1>Reset a forgotten password with Okta self-service</h1>" in page
    assert "<ol>" in page and "<strong>Forgot password?</strong>" in page
    assert '<a href="/kb/KB-0071">KB-0071</a>' in page  # "see KB-0071" in the steps
    assert '<a href="/kb/KB-0001-fr" hreflang="fr">Français</a>' in page
    french = httpx.get(f"{kb}/kb/KB-0001-fr").text
    assert '<html lang="fr">' in french and '<a href="/kb/KB-0001" hreflang="en">English</a>' in french


def test_the_index_lists_every_article_by_category(kb: str, articles: dict) -> None:
    page = httpx.get(f"{kb}/kb").text
    for article_id in articles:
        assert f'href="/kb/{article_id}"' in page
    assert f"<p>{len(articles)} articles</p>" in page


def test_an_unknown_article_is_a_clear_404(kb: str) -> None:
    page = httpx.get(f"{kb}/kb/KB-9999")
    assert page.status_code == 404
    assert "No article KB-9999" in page.text and "Traceback" not in page.text
    assert httpx.get(f"{kb}/kb/kb-0001").status_code == 200  # ids as people type them


def test_raw_html_in_an_article_is_shown_not_run(articles: dict) -> None:
    from bot.kb_pages import render_article

    article = dataclasses.replace(articles["KB-0001"], title="<b>Title</b>",
                                  sections=(Section("Steps", "1. Click <script>alert(1)</script> **here**"),))
    body = render_article(article, articles)
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;b&gt;Title&lt;/b&gt;" in body and "<strong>here</strong>" in body
