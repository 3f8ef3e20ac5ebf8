"""The desk's knowledge-base tables: articles with their versions and counters, and the queries that found none."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk._base import Base, UTCDateTime, _enum
from desk.domain import ArticleStatus


class KbArticle(Base):
    """One article in one language (a translation is an article of its own that names its original).

    ``version`` is the newest version's number, ``published_version`` the one readers and the bot get: an edit
    of a published article waits as a newer version until it is published in turn. The counters move with
    ``desk.knowledge.record_feedback``, one atomic ``UPDATE`` each.
    """

    __tablename__ = "kb_articles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # KB-0006, KB-0001-fr
    lang: Mapped[str] = mapped_column(String(8))
    translation_of: Mapped[str | None] = mapped_column(String(32))  # the original's id
    title: Mapped[str] = mapped_column(String(200))  # the newest version's, for lists
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus, 16), default=ArticleStatus.DRAFT)
    version: Mapped[int] = mapped_column(Integer)
    published_version: Mapped[int | None] = mapped_column(Integer)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    solved: Mapped[int] = mapped_column(Integer, default=0)
    not_solved: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    versions: Mapped[list[KbArticleVersion]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="KbArticleVersion.number")


class KbArticleVersion(Base):
    """The whole Markdown source (front matter and body) of one version: who wrote it, when, and why."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the source: an import of the same text is no change
    author: Mapped[str] = mapped_column(String(120))  # "user:amy", "import"
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    article: Mapped[KbArticle] = relationship(back_populates="versions")


class KbGap(Base):
    """A request the bot found no article for (no KB hit at the retrieval threshold): what editors write next."""

    __tablename__ = "kb_gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))  # the start of the message
    channel: Mapped[str] = mapped_column(String(32))
    intent: Mapped[str | None] = mapped_column(String(64))
    best_article: Mapped[str | None] = mapped_column(String(32))  # the nearest article, below the threshold
    best_score: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
