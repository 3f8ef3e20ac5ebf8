"""The knowledge base between the desk and the NLP: the desk keeps the articles' Markdown and their status, the
NLP parses and indexes them. Seed import and export (``kb_articles/``), the published articles as ``nlp.Article``
objects (for ``/kb`` and the index), and bringing a process's KB index up to date with the desk.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desk import UnitOfWork, knowledge
from desk.domain import Feedback
from desk.knowledge import ArticleMeta, ImportOutcome

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from nlp import Analyzer, Article

log = logging.getLogger("deskbot.kb")
_SLUG = re.compile(r"[^a-z0-9]+")


def parse(source: str, *, where: str = "article") -> Article:
    """The article a Markdown source describes; ``nlp.ArticleError`` names what is wrong with it."""
    from nlp import parse_article

    return parse_article(source, path=where)


def meta_of(article: Article) -> ArticleMeta:
    return ArticleMeta(id=article.id, lang=article.lang, title=article.title, translation_of=article.translation_of)


@dataclass(frozen=True)
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # files that could not be read, one line each


def import_folder(*, uow: UnitOfWork, folder: Path, now: dt.datetime | None = None) -> ImportReport:
    """Every article file under ``folder`` into the desk, published (see ``knowledge.import_source``)."""
    from nlp import load_articles

    articles, errors = load_articles(folder)
    report = ImportReport(errors=errors)
    lists = {ImportOutcome.ADDED: report.added, ImportOutcome.CHANGED: report.changed,
             ImportOutcome.UNCHANGED: report.unchanged}
    with uow() as session:
        for article in articles:
            outcome = knowledge.import_source(session=session, meta=meta_of(article),
                                              source=Path(article.path).read_text(encoding="utf-8"),
                                              now=now or dt.datetime.now(dt.UTC))
            lists[outcome].append(article.id)
    return report


def export_folder(*, uow: UnitOfWork, folder: Path) -> list[Path]:
    """The published articles as Markdown files, ``<folder>/<lang>/<id>-<title>.md`` (the seed's layout)."""
    written = []
    with uow() as session:
        for version in knowledge.published(session=session):
            article = version.article
            slug = _SLUG.sub("-", article.title.lower()).strip("-")[:60].rstrip("-")
            path = Path(folder) / article.lang / f"{article.id}-{slug}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(version.source, encoding="utf-8")
            written.append(path)
    return written


def published_articles(*, session: Session) -> list[Article]:
    """The live version of every published article, parsed (each was parsed when it was saved)."""
    return [parse(v.source, where=f"{v.article_id} v{v.number}") for v in knowledge.published(session=session)]


def sync_index(*, uow: UnitOfWork, analyzer: Analyzer) -> bool:
    """Bring ``analyzer``'s KB index up to the desk's published articles; True if it changed. A desk without any
    article leaves the index as it is (one built from the folder, before ``deskbot kb import``)."""
    with uow() as session:
        stamp = knowledge.published_stamp(session=session)
        if stamp is None or stamp == analyzer.kb.stamp:
            return False
        articles = published_articles(session=session)
    changed = analyzer.use_kb(articles, stamp=stamp)
    if changed:
        log.info("KB index now has the desk's %d published article(s)", len(articles))
    return changed


class DeskArticles:
    """The published articles for ``/kb``, parsed again only when the desk's published stamp changes."""

    def __init__(self, uow: UnitOfWork):
        self._uow = uow
        self._lock = threading.Lock()
        self._stamp: str | None = None
        self._articles: dict[str, Article] = {}

    def __call__(self) -> Mapping[str, Article]:
        with self._uow() as session:
            stamp = knowledge.published_stamp(session=session)
            if stamp != self._stamp:
                articles = {a.id: a for a in published_articles(session=session)} if stamp else {}
                with self._lock:
                    self._stamp, self._articles = stamp, articles
        return self._articles

    def viewed(self, article_id: str) -> None:
        with self._uow() as session:
            knowledge.record_feedback(session=session, article_id=article_id, outcome=Feedback.VIEWED)
