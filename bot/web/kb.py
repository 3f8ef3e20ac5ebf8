"""``/api/v1/kb``: the knowledge base's articles and its search, the very hybrid search the bot answers with.

These routes read the bot's KB index (the desk's published articles as the running bot serves them; the
editor's routes, ``bot.web.kb_editor``, read the desk), so without the NLP in this process they answer 503
``nlp_unavailable``. Each article links to its public
page (``/kb/<id>``), the link the bot's answers carry.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.web.errors import ApiError, ErrorCode
from bot.web.tickets import AnalyzerSource

if TYPE_CHECKING:
    from nlp import Analyzer, Article, KbHit

MAX_HITS = 20


class ArticleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lang: str | None = Field(None, min_length=2, max_length=8, description="only the articles in this language")


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=2000, description="what a requester would write")
    limit: int | None = Field(None, ge=1, le=MAX_HITS, description="how many articles; none: as many as the bot "
                                                                   "weighs for an answer")


class ArticleSummary(BaseModel):
    id: str
    title: str
    category: str
    lang: str
    translation_of: str | None  # the original's id, for a translation
    tags: list[str]
    summary: str  # the text before the first heading
    updated: dt.date
    url: str  # the public page the bot's answers link to

    @classmethod
    def of(cls, article: Article, kb_url: str) -> ArticleSummary:
        return cls(id=article.id, title=article.title, category=article.category, lang=article.lang,
                   translation_of=article.translation_of, tags=list(article.tags), summary=article.summary,
                   updated=article.updated, url=f"{kb_url}/{article.id}")


class SectionOut(BaseModel):
    heading: str
    text: str  # Markdown


class ArticleOut(ArticleSummary):
    intents: list[str]  # what it answers
    steps: str  # Markdown: what the bot sends a requester
    sections: list[SectionOut]
    translations: list[str]  # the ids of its other language versions


class KbHitOut(BaseModel):
    id: str
    title: str
    section: str  # the best-matching section
    snippet: str
    score: float  # cosine similarity of the query to that section (the bot's retrieval threshold applies to it)
    url: str

    @classmethod
    def of(cls, hit: KbHit, kb_url: str) -> KbHitOut:
        return cls(id=hit.article_id, title=hit.title, section=hit.section, snippet=hit.snippet, score=hit.score,
                   url=f"{kb_url}/{hit.article_id}")


def kb_router(*, analyzer: AnalyzerSource, kb_url: str) -> APIRouter:
    router = APIRouter(prefix="/kb", tags=["kb"])

    def loaded() -> Analyzer:
        source = analyzer()
        if source is None:
            raise ApiError(503, ErrorCode.NLP_UNAVAILABLE, "the knowledge base is not loaded in this process")
        return source

    @router.get("/articles", response_model=list[ArticleSummary])
    def articles(query: Annotated[ArticleQuery, Query()]) -> list[ArticleSummary]:
        """Every article (each translation is one), by id."""
        found = loaded().kb.articles.values()
        return [ArticleSummary.of(a, kb_url) for a in sorted(found, key=lambda a: a.id)
                if query.lang is None or a.lang == query.lang.lower()]

    @router.get("/articles/{article_id}", response_model=ArticleOut)
    def article(article_id: str) -> ArticleOut:
        """One article: its steps, every section and its other language versions."""
        known = loaded().kb.articles
        found = known.get(article_id) or known.get(article_id.upper())
        if found is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"there is no article {article_id} in the knowledge base")
        translations = sorted(a.id for a in known.values()
                              if a.canonical_id == found.canonical_id and a.id != found.id)
        return ArticleOut(**ArticleSummary.of(found, kb_url).model_dump(), intents=list(found.intents),
                          steps=found.steps, sections=[SectionOut(heading=s.heading, text=s.text) for s in found.sections],
                          translations=translations)

    @router.get("/search", response_model=list[KbHitOut])
    def search(query: Annotated[SearchQuery, Query()]) -> list[KbHitOut]:
        """The best articles for ``q``, best first: the hybrid (dense and BM25) search the bot answers with, in
        the language ``q`` is written in where the article has a version in it."""
        return [KbHitOut.of(h, kb_url) for h in loaded().search_kb(query.q, k=query.limit)]

    return router
