"""The knowledge base in the desk: articles, their versions, publishing, feedback counters and the gaps.

The desk keeps each version's Markdown source as written and does not read it: the bot parses it with the NLP's
parser and hands the desk what the desk stores beside (id, language, original, title). Only published versions
reach readers and the bot (``published``); ``published_stamp`` changes whenever that set does, so a process can
tell cheaply that its KB index is stale.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from desk import administration
from desk.domain import AdminAction, ArticleStatus, DeskError, DuplicateKey, Feedback, NotFound
from desk.kb_models import KbArticle, KbArticleVersion, KbGap

IMPORT_AUTHOR = "import"  # the author of versions ``deskbot kb import`` makes
GAP_TEXT_LIMIT = 500
_COUNTER = {Feedback.SHOWN: KbArticle.shown, Feedback.SOLVED: KbArticle.solved,
            Feedback.NOT_SOLVED: KbArticle.not_solved, Feedback.VIEWED: KbArticle.views}


@dataclass(frozen=True)
class ArticleMeta:
    """What the desk keeps of a version's front matter (the bot reads it from the source)."""

    id: str
    lang: str
    title: str
    translation_of: str | None = None


class ImportOutcome(enum.Enum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def get_article(*, session: Session, article_id: str) -> KbArticle:
    article = session.get(KbArticle, article_id) or session.get(KbArticle, article_id.upper())
    if article is None:
        raise NotFound(f"there is no article {article_id} in the knowledge base")
    return article


def list_articles(*, session: Session, status: ArticleStatus | None = None) -> Sequence[KbArticle]:
    query = select(KbArticle).order_by(KbArticle.id)
    if status is not None:
        query = query.where(KbArticle.status == status)
    return session.scalars(query).all()


def history(*, session: Session, article_id: str) -> Sequence[KbArticleVersion]:
    """Every version of the article, newest first."""
    article = get_article(session=session, article_id=article_id)
    return sorted(article.versions, key=lambda v: v.number, reverse=True)


def version_of(article: KbArticle, number: int | None = None) -> KbArticleVersion:
    """The article's version ``number`` (default: its newest)."""
    wanted = article.version if number is None else number
    found = next((v for v in article.versions if v.number == wanted), None)
    if found is None:
        raise NotFound(f"article {article.id} has no version {wanted}")
    return found


def _add_version(session: Session, article: KbArticle, meta: ArticleMeta, source: str, author: str, note: str,
                 now: dt.datetime) -> KbArticleVersion:
    number = article.version + 1 if article.versions else 1
    version = KbArticleVersion(number=number, source=source, digest=_digest(source), author=author, note=note[:500],
                               created_at=now)
    article.versions.append(version)
    article.version, article.title, article.lang = number, meta.title[:200], meta.lang
    article.translation_of, article.updated_at = meta.translation_of, now
    session.flush()
    return version


def create_article(*, session: Session, meta: ArticleMeta, source: str, author: str, now: dt.datetime,
                   note: str = "") -> KbArticle:
    """A new article as a draft (version 1); ``DuplicateKey`` if the id is taken."""
    if session.get(KbArticle, meta.id) is not None:
        raise DuplicateKey(f"article {meta.id} exists already: edit it instead")
    article = KbArticle(id=meta.id, lang=meta.lang, title=meta.title[:200], status=ArticleStatus.DRAFT, version=0,
                        shown=0, solved=0, not_solved=0, views=0, created_at=now, updated_at=now)
    session.add(article)
    _add_version(session, article, meta, source, author, note, now)
    return article


def update_article(*, session: Session, article_id: str, meta: ArticleMeta, source: str, author: str,
                   now: dt.datetime, note: str = "") -> KbArticleVersion | None:
    """A new version of the article (published or not, it waits for ``publish``); None when ``source`` is its
    newest version's text already."""
    article = get_article(session=session, article_id=article_id)
    if meta.id != article.id:
        raise DeskError(f"the front matter's id {meta.id} is not the article's id {article.id}")
    if version_of(article).digest == _digest(source):
        return None
    return _add_version(session, article, meta, source, author, note, now)


def publish(*, session: Session, article_id: str, actor: str, now: dt.datetime) -> KbArticle:
    """Its newest version goes live (also for a retired article: it comes back)."""
    article = get_article(session=session, article_id=article_id)
    if article.status is ArticleStatus.PUBLISHED and article.published_version == article.version:
        return article
    old = f"{article.status.value} v{article.published_version}" if article.published_version else article.status.value
    article.status, article.published_version, article.updated_at = ArticleStatus.PUBLISHED, article.version, now
    administration.record(session=session, actor=actor, action=AdminAction.KB_PUBLISHED, target=article.id,
                          old=old, new=f"published v{article.version}", now=now)
    return article


def retire(*, session: Session, article_id: str, actor: str, now: dt.datetime) -> KbArticle:
    """Withdrawn: never offered or shown again until published anew; its versions and counters stay."""
    article = get_article(session=session, article_id=article_id)
    if article.status is not ArticleStatus.RETIRED:
        old = article.status.value
        article.status, article.updated_at = ArticleStatus.RETIRED, now
        administration.record(session=session, actor=actor, action=AdminAction.KB_RETIRED, target=article.id,
                              old=old, new=ArticleStatus.RETIRED.value, now=now)
    return article


def import_source(*, session: Session, meta: ArticleMeta, source: str, now: dt.datetime) -> ImportOutcome:
    """A seed file into the desk, published. A text any version of the article already had is no change (so an
    edit made in the desk since is not undone by importing the old seed again)."""
    article = session.get(KbArticle, meta.id)
    if article is None:
        create_article(session=session, meta=meta, source=source, author=IMPORT_AUTHOR, note="imported", now=now)
        publish(session=session, article_id=meta.id, actor=IMPORT_AUTHOR, now=now)
        return ImportOutcome.ADDED
    if _digest(source) in {v.digest for v in article.versions}:
        return ImportOutcome.UNCHANGED
    update_article(session=session, article_id=meta.id, meta=meta, source=source, author=IMPORT_AUTHOR, note="imported", now=now)
    publish(session=session, article_id=meta.id, actor=IMPORT_AUTHOR, now=now)
    return ImportOutcome.CHANGED


def published(*, session: Session) -> list[KbArticleVersion]:
    """The live version of every published article, by article id."""
    query = (select(KbArticleVersion).join(KbArticle, KbArticleVersion.article_id == KbArticle.id)
             .where(KbArticle.status == ArticleStatus.PUBLISHED,
                    KbArticleVersion.number == KbArticle.published_version)
             .order_by(KbArticle.id))
    return list(session.scalars(query))


def published_stamp(*, session: Session) -> str | None:
    """A digest of which text of which article is live: it changes with every publish and retire. None while the
    desk has no article at all (a desk that never imported its seed has nothing to say about an index)."""
    if session.scalar(select(func.count()).select_from(KbArticle)) == 0:
        return None
    rows = session.execute(
        select(KbArticleVersion.article_id, KbArticleVersion.digest)
        .join(KbArticle, KbArticleVersion.article_id == KbArticle.id)
        .where(KbArticle.status == ArticleStatus.PUBLISHED, KbArticleVersion.number == KbArticle.published_version)
        .order_by(KbArticleVersion.article_id)).all()
    return hashlib.sha256("\n".join(f"{a} {d}" for a, d in rows).encode()).hexdigest()


def record_feedback(*, session: Session, article_id: str | None, outcome: Feedback) -> None:
    """One more ``outcome`` for the article; nothing for an id the desk does not have (an index built elsewhere)
    or for none."""
    if article_id is None:
        return
    column = _COUNTER[outcome]
    session.execute(update(KbArticle).where(KbArticle.id == article_id).values({column: column + 1}))


def record_gap(*, session: Session, text: str, channel: str, intent: str | None, best_article: str | None,
               best_score: float, now: dt.datetime) -> KbGap:
    gap = KbGap(text=" ".join(text.split())[:GAP_TEXT_LIMIT], channel=channel, intent=intent,
                best_article=best_article, best_score=round(float(best_score), 4), at=now)
    session.add(gap)
    return gap


def gaps(*, session: Session, since: dt.datetime | None = None, limit: int = 100) -> Sequence[KbGap]:
    """The newest requests that found no article, newest first."""
    query = select(KbGap).order_by(KbGap.at.desc(), KbGap.id.desc()).limit(limit)
    if since is not None:
        query = query.where(KbGap.at >= since)
    return session.scalars(query).all()
