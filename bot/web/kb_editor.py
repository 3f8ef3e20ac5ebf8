"""``/api/v1/kb/edit`` and ``/api/v1/admin/kb``: what the console's KB editor calls.

Who may do what: every agent writes (creates drafts, saves new versions, previews) and reads the history, the
per-article numbers and the gaps; publishing and retiring, which change what requesters and the bot get, are
admin routes (``/admin/kb``, under the admin router's ``require_admin``). An article is its whole Markdown
source, front matter included, in the format of ``kb_articles/`` (``nlp.kb.parse_article`` checks it); the
preview renders it with the ``/kb`` pages' own renderer (``bot.kb_pages.render_article``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from bot import knowledge as kb
from bot.kb_pages import render_article
from bot.web.auth import Principal, signed_in
from bot.web.errors import ApiError, ErrorCode
from desk import UnitOfWork, knowledge
from desk.domain import ArticleStatus

if TYPE_CHECKING:
    from nlp import Article

    from desk.models import KbArticle, KbArticleVersion, KbGap

Caller = Annotated[Principal, Depends(signed_in)]
MAX_SOURCE = 200_000  # characters of Markdown: the longest seed article is about 3,000


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=MAX_SOURCE, description="the whole Markdown, front matter included")
    note: str = Field("", max_length=500, description="what changed and why (the history shows it)")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=MAX_SOURCE)


class PreviewOut(BaseModel):
    id: str
    title: str
    html: str  # the /kb page's body as it will look once published


class ArticleStats(BaseModel):
    shown: int  # the bot offered it and asked "did this solve it?"
    solved: int  # ... and the requester said yes
    not_solved: int  # ... and the requester said no
    unanswered: int  # ... and nobody answered (potential deflection)
    views: int  # its /kb page was opened
    success_rate: float | None  # solved / (solved + not solved): self-service success; None before any answer

    @classmethod
    def of(cls, article: KbArticle) -> ArticleStats:
        answered = article.solved + article.not_solved
        return cls(shown=article.shown, solved=article.solved, not_solved=article.not_solved,
                   unanswered=max(0, article.shown - answered), views=article.views,
                   success_rate=round(article.solved / answered, 4) if answered else None)


class ArticleRow(BaseModel):
    id: str
    title: str  # of its newest version
    lang: str
    translation_of: str | None
    status: ArticleStatus
    version: int  # the newest
    published_version: int | None  # the one readers and the bot get; below ``version``: changes wait to be published
    updated: dt.datetime
    url: str  # its public page
    stats: ArticleStats

    @classmethod
    def of(cls, article: KbArticle, kb_url: str) -> ArticleRow:
        return cls(id=article.id, title=article.title, lang=article.lang, translation_of=article.translation_of,
                   status=article.status, version=article.version, published_version=article.published_version,
                   updated=article.updated_at, url=f"{kb_url}/{article.id}", stats=ArticleStats.of(article))


class EditedArticle(ArticleRow):
    source: str  # the newest version's Markdown

    @classmethod
    def edited(cls, article: KbArticle, kb_url: str) -> EditedArticle:
        return cls(**ArticleRow.of(article, kb_url).model_dump(), source=knowledge.version_of(article).source)


class VersionOut(BaseModel):
    number: int
    author: str  # "user:amy", "import"
    note: str
    created: dt.datetime
    published: bool  # the version readers get now
    source: str

    @classmethod
    def of(cls, version: KbArticleVersion) -> VersionOut:
        article = version.article
        return cls(number=version.number, author=version.author, note=version.note, created=version.created_at,
                   published=article.status is ArticleStatus.PUBLISHED and article.published_version == version.number,
                   source=version.source)


class GapOut(BaseModel):
    text: str  # the start of the requester's message
    channel: str
    intent: str | None
    best_article: str | None  # the nearest article, below the retrieval threshold
    best_score: float
    at: dt.datetime

    @classmethod
    def of(cls, gap: KbGap) -> GapOut:
        return cls(text=gap.text, channel=gap.channel, intent=gap.intent, best_article=gap.best_article,
                   best_score=gap.best_score, at=gap.at)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ArticleStatus | None = None


class GapQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(30, ge=1, le=3660, description="the gaps of the last so many days")
    limit: int = Field(100, ge=1, le=1000)


def _parsed(source: str) -> Article:
    from nlp import ArticleError

    try:
        return kb.parse(source, where="the article")
    except ArticleError as exc:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, str(exc)) from None


def kb_editor_router(*, uow: UnitOfWork, kb_url: str) -> APIRouter:
    """The agents' part (inside the API router's ``signed_in``)."""
    router = APIRouter(prefix="/kb/edit", tags=["kb"])

    @router.get("/articles", response_model=list[ArticleRow])
    def articles(query: Annotated[ListQuery, Query()]) -> list[ArticleRow]:
        """Every article in the desk, drafts and retired ones too, with its numbers."""
        with uow() as session:
            return [ArticleRow.of(a, kb_url) for a in knowledge.list_articles(session=session, status=query.status)]

    @router.post("/articles", response_model=EditedArticle, status_code=201)
    def create(body: SourceIn, caller: Caller) -> EditedArticle:
        """A new article, as a draft (the id comes from its front matter)."""
        return create_draft(uow=uow, source=body.source, note=body.note, author=caller, kb_url=kb_url)

    @router.get("/articles/{article_id}", response_model=EditedArticle)
    def article(article_id: str) -> EditedArticle:
        """The article with its newest version's Markdown."""
        with uow() as session:
            return EditedArticle.edited(knowledge.get_article(session=session, article_id=article_id), kb_url)

    @router.put("/articles/{article_id}", response_model=EditedArticle)
    def update(article_id: str, body: SourceIn, caller: Caller) -> EditedArticle:
        """A new version; a published article keeps serving its published version until an admin publishes this
        one. The same text as the newest version makes no new version."""
        return save_version(uow=uow, article_id=article_id, source=body.source, note=body.note, author=caller,
                            kb_url=kb_url)

    @router.get("/articles/{article_id}/history", response_model=list[VersionOut])
    def history(article_id: str) -> list[VersionOut]:
        """Every version, newest first: who, when, why."""
        with uow() as session:
            return [VersionOut.of(v) for v in knowledge.history(session=session, article_id=article_id)]

    @router.get("/articles/{article_id}/stats", response_model=ArticleStats)
    def stats(article_id: str) -> ArticleStats:
        """How often the bot offered it, how often it solved the problem, how often its page was read."""
        with uow() as session:
            return ArticleStats.of(knowledge.get_article(session=session, article_id=article_id))

    @router.post("/preview", response_model=PreviewOut)
    def preview(body: PreviewIn) -> PreviewOut:
        """The Markdown rendered as its /kb page will show it (nothing is saved)."""
        return preview_of(uow=uow, source=body.source)

    @router.get("/gaps", response_model=list[GapOut])
    def gaps(query: Annotated[GapQuery, Query()]) -> list[GapOut]:
        """Requests the bot found no article for, newest first: what to write next."""
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=query.days)
        with uow() as session:
            return [GapOut.of(g) for g in knowledge.gaps(session=session, since=since, limit=query.limit)]

    return router


def kb_admin_router(*, uow: UnitOfWork, kb_url: str) -> APIRouter:
    """The admins' part (inside the admin router's ``require_admin``): what goes live."""
    router = APIRouter(prefix="/kb/articles")

    @router.post("/{article_id}/publish", response_model=ArticleRow)
    def publish(article_id: str, admin: Caller) -> ArticleRow:
        """The newest version goes live: /kb at once, the bot within the kb_refresh_seconds setting."""
        return publish_article(uow=uow, article_id=article_id, admin=admin, kb_url=kb_url)

    @router.post("/{article_id}/retire", response_model=ArticleRow)
    def retire(article_id: str, admin: Caller) -> ArticleRow:
        """Withdrawn from /kb and from the bot's answers; its history stays, and publishing brings it back."""
        return retire_article(uow=uow, article_id=article_id, admin=admin, kb_url=kb_url)

    return router


# --- what the API's routes and the console's pages both do -------------------------------------------------


def create_draft(*, uow: UnitOfWork, source: str, note: str, author: Principal, kb_url: str) -> EditedArticle:
    """A new article from its Markdown source, as a draft; 422 for a source that is no article."""
    parsed = _parsed(source)
    with uow() as session:
        article = knowledge.create_article(session=session, meta=kb.meta_of(parsed), source=source,
                                           author=author.actor, note=note, now=dt.datetime.now(dt.UTC))
        return EditedArticle.edited(article, kb_url)


def save_version(*, uow: UnitOfWork, article_id: str, source: str, note: str, author: Principal,
                 kb_url: str) -> EditedArticle:
    """A new version of the article (none for the newest version's own text); 422 for another article's id."""
    parsed = _parsed(source)
    with uow() as session:
        article = knowledge.get_article(session=session, article_id=article_id)
        if parsed.id != article.id:
            raise ApiError(422, ErrorCode.INVALID_REQUEST,
                           f"the front matter says id {parsed.id}, but this is article {article.id}")
        knowledge.update_article(session=session, article_id=article.id, meta=kb.meta_of(parsed), source=source,
                                 author=author.actor, note=note, now=dt.datetime.now(dt.UTC))
        return EditedArticle.edited(article, kb_url)


def preview_of(*, uow: UnitOfWork, source: str) -> PreviewOut:
    """The source rendered as its /kb page will show it, among the published articles (nothing is saved)."""
    parsed = _parsed(source)
    with uow() as session:
        known = {a.id: a for a in kb.published_articles(session=session)}
    known[parsed.id] = parsed
    return PreviewOut(id=parsed.id, title=parsed.title, html=render_article(parsed, known))


def publish_article(*, uow: UnitOfWork, article_id: str, admin: Principal, kb_url: str) -> ArticleRow:
    """The newest version goes live (the caller has checked ``admin`` is one)."""
    with uow() as session:
        article = knowledge.publish(session=session, article_id=article_id, actor=admin.actor,
                                    now=dt.datetime.now(dt.UTC))
        return ArticleRow.of(article, kb_url)


def retire_article(*, uow: UnitOfWork, article_id: str, admin: Principal, kb_url: str) -> ArticleRow:
    """Withdrawn from /kb and the bot (the caller has checked ``admin`` is one)."""
    with uow() as session:
        article = knowledge.retire(session=session, article_id=article_id, actor=admin.actor,
                                   now=dt.datetime.now(dt.UTC))
        return ArticleRow.of(article, kb_url)
