"""The knowledge base in the desk: versions, publishing and retiring, the published stamp, counters and gaps.

SQLite and PostgreSQL. The desk stores Markdown without reading it, so these sources need no valid front matter.
"""

from __future__ import annotations

import datetime as dt

import pytest

from desk import DuplicateKey, NotFound, UnitOfWork, administration, knowledge
from desk.domain import AdminAction, ArticleStatus, Feedback
from desk.knowledge import ArticleMeta, ImportOutcome

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
META = ArticleMeta(id="KB-9001", lang="en", title="Fix error 0x80070005 when printing")


def test_an_article_starts_as_a_draft_and_each_edit_is_a_version(uow: UnitOfWork) -> None:
    with uow() as session:
        knowledge.create_article(session=session, meta=META, source="v1", author="user:amy", note="first", now=NOW)
    with uow() as session:
        assert knowledge.update_article(session=session, article_id="kb-9001", meta=META, source="v1",
                                        author="user:bob", now=NOW) is None  # the same text: no version
        knowledge.update_article(session=session, article_id="KB-9001", meta=META, source="v2", author="user:bob",
                                 note="clearer steps", now=NOW + dt.timedelta(minutes=5))
    with uow() as session:
        article = knowledge.get_article(session=session, article_id="KB-9001")
        assert (article.status, article.version, article.published_version) == (ArticleStatus.DRAFT, 2, None)
        versions = knowledge.history(session=session, article_id="KB-9001")
        assert [(v.number, v.author, v.note, v.source) for v in versions] == [
            (2, "user:bob", "clearer steps", "v2"), (1, "user:amy", "first", "v1")]
        assert versions[0].created_at == NOW + dt.timedelta(minutes=5)
        assert knowledge.published(session=session) == []
        with pytest.raises(DuplicateKey, match="KB-9001 exists already"):
            knowledge.create_article(session=session, meta=META, source="again", author="user:amy", now=NOW)
        with pytest.raises(NotFound, match="no article KB-0000"):
            knowledge.get_article(session=session, article_id="KB-0000")


def test_publishing_serves_a_version_until_the_next_is_published_and_retiring_withdraws_it(uow: UnitOfWork) -> None:
    with uow() as session:
        assert knowledge.published_stamp(session=session) is None  # no article at all
        knowledge.create_article(session=session, meta=META, source="v1", author="user:amy", now=NOW)
        draft_stamp = knowledge.published_stamp(session=session)
        knowledge.publish(session=session, article_id="KB-9001", actor="user:root", now=NOW)
        first = knowledge.published_stamp(session=session)
        knowledge.update_article(session=session, article_id="KB-9001", meta=META, source="v2", author="user:amy",
                                 now=NOW)
        assert [v.source for v in knowledge.published(session=session)] == ["v1"]  # the edit waits
        assert knowledge.published_stamp(session=session) == first
        knowledge.publish(session=session, article_id="KB-9001", actor="user:root", now=NOW)
        second = knowledge.published_stamp(session=session)
        assert [v.source for v in knowledge.published(session=session)] == ["v2"]
        knowledge.retire(session=session, article_id="KB-9001", actor="user:root", now=NOW)
        assert knowledge.published(session=session) == []
        retired = knowledge.published_stamp(session=session)
        assert len({draft_stamp, first, second}) == 3 and retired == draft_stamp  # nothing live either time
        log = [(e.action, e.target, e.old, e.new) for e in reversed(administration.admin_log(session=session))]
    assert log == [(AdminAction.KB_PUBLISHED, "KB-9001", "draft", "published v1"),
                   (AdminAction.KB_PUBLISHED, "KB-9001", "published v1", "published v2"),
                   (AdminAction.KB_RETIRED, "KB-9001", "published", "retired")]


def test_import_is_idempotent_and_keeps_what_the_desk_changed_since(uow: UnitOfWork) -> None:
    with uow() as session:
        assert knowledge.import_source(session=session, meta=META, source="seed", now=NOW) is ImportOutcome.ADDED
        assert knowledge.import_source(session=session, meta=META, source="seed", now=NOW) is ImportOutcome.UNCHANGED
        knowledge.update_article(session=session, article_id="KB-9001", meta=META, source="edited in the console",
                                 author="user:amy", now=NOW)
        assert knowledge.import_source(session=session, meta=META, source="seed", now=NOW) is ImportOutcome.UNCHANGED
        assert knowledge.import_source(session=session, meta=META, source="new seed",
                                       now=NOW) is ImportOutcome.CHANGED
        article = knowledge.get_article(session=session, article_id="KB-9001")
        assert (article.status, article.version, article.published_version) == (ArticleStatus.PUBLISHED, 3, 3)
        assert [(v.number, v.author) for v in knowledge.history(session=session, article_id="KB-9001")] == [
            (3, "import"), (2, "user:amy"), (1, "import")]


def test_feedback_counts_per_article_and_ignores_articles_the_desk_lacks(uow: UnitOfWork) -> None:
    with uow() as session:
        knowledge.create_article(session=session, meta=META, source="v1", author="user:amy", now=NOW)
    for outcome in (Feedback.SHOWN, Feedback.SHOWN, Feedback.SOLVED, Feedback.NOT_SOLVED, Feedback.VIEWED):
        with uow() as session:
            knowledge.record_feedback(session=session, article_id="KB-9001", outcome=outcome)
            knowledge.record_feedback(session=session, article_id="KB-0404", outcome=outcome)
            knowledge.record_feedback(session=session, article_id=None, outcome=outcome)
    with uow() as session:
        a = knowledge.get_article(session=session, article_id="KB-9001")
        assert (a.shown, a.solved, a.not_solved, a.views) == (2, 1, 1, 1)


def test_gaps_are_listed_newest_first_within_the_period(uow: UnitOfWork) -> None:
    with uow() as session:
        for days, text in ((40, "old"), (2, "the coffee machine\nis   leaking"), (1, "x" * 900)):
            knowledge.record_gap(session=session, text=text, channel="email", intent="oos", best_article="KB-0057",
                                 best_score=0.213456, now=NOW - dt.timedelta(days=days))
    with uow() as session:
        found = knowledge.gaps(session=session, since=NOW - dt.timedelta(days=30))
        assert [len(g.text) for g in found] == [knowledge.GAP_TEXT_LIMIT, len("the coffee machine is leaking")]
        assert found[1].text == "the coffee machine is leaking" and found[1].best_score == pytest.approx(0.2135)
        assert len(knowledge.gaps(session=session)) == 3
