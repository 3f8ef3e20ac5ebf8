"""The knowledge base in the desk with the bot around it: the seed imported and exported, the bot's index following
what is published (also in a running service, without a restart), the feedback counters, the gaps and the
editor's API over real HTTP. SQLite and PostgreSQL; the real NLP (the ``analyzer`` fixture's model and index)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest

from bot.composition import Deskbot
from bot.conversation import ConversationRef, Identity, InboundMessage
from bot.kb_pages import render_article
from bot.knowledge import export_folder, import_folder, parse, published_articles, sync_index
from bot.web.api import PREFIX
from bot.worker import BotSettings, Pipeline
from desk import Role, UnitOfWork, accounts, knowledge, people
from desk.domain import Feedback
from nlp import Analyzer, load_articles

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "kb_articles"
NOW = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)
EDIT, ADMIN = f"{PREFIX}/kb/edit", f"{PREFIX}/admin/kb"


def _comparable(folder: Path) -> dict:
    articles, errors = load_articles(folder)
    assert not errors
    return {a.id: dataclasses.replace(a, path="") for a in articles}


@pytest.fixture
def own_analyzer(real_nlp, tmp_path: Path) -> Analyzer:  # noqa: ANN001
    """The real model with an index of its own: these tests change the KB it serves."""
    shutil.copytree(real_nlp.kb_dir, tmp_path / "kb_index")
    return Analyzer(embedder=real_nlp.embedder, registry=real_nlp.registry, kb_index_dir=tmp_path / "kb_index")


def _message(text: str, *, who: str = "ana@corp.example", thread: str = "t1", action: str | None = None) -> InboundMessage:
    return InboundMessage(key=f"webchat:{uuid.uuid4()}", conversation=ConversationRef("webchat", f"webchat:{who}", thread),
                          sender=Identity("webchat", f"webchat:{who}", who.split("@")[0], who, email_verified=True),
                          text=text, received_at=NOW, action=action)


def _offered(pipeline: Pipeline, text: str, **kwargs: object) -> str | None:
    """The article the bot answered ``text`` with (None: no KB answer)."""
    message = _message(text, **kwargs)  # type: ignore[arg-type]
    pipeline.accept(message)
    while pipeline.process_batch(now=NOW):
        pass
    with pipeline.uow() as session:
        conversation = _conversation(session, message)
        return conversation.offered_article if conversation and conversation.awaiting.value == "confirmation" else None


def _conversation(session, message: InboundMessage):  # noqa: ANN001, ANN201
    from sqlalchemy import select

    from desk.models import Conversation

    ref = message.conversation
    return session.scalar(select(Conversation).where(Conversation.channel == ref.channel,
                                                     Conversation.address == ref.address,
                                                     Conversation.thread == ref.thread))


# --- the seed --------------------------------------------------------------------------------------------


def test_importing_the_seed_again_changes_nothing_and_a_changed_file_is_a_new_version(uow: UnitOfWork,
                                                                                      tmp_path: Path) -> None:
    seed = tmp_path / "kb"
    shutil.copytree(SEED, seed)
    first = import_folder(uow=uow, folder=seed)
    assert len(first.added) == len(_comparable(SEED)) and not first.changed and not first.errors
    again = import_folder(uow=uow, folder=seed)
    assert (again.added, again.changed, len(again.unchanged)) == ([], [], len(first.added))

    path = next(seed.glob("en/KB-0015-*.md"))
    path.write_text(path.read_text().replace("## If this did not help", "## If this did not help\nNew sentence.\n"))
    changed = import_folder(uow=uow, folder=seed)
    assert (changed.added, changed.changed) == ([], ["KB-0015"])
    with uow() as session:
        versions = knowledge.history(session=session, article_id="KB-0015")
        assert [(v.number, v.author) for v in versions] == [(2, "import"), (1, "import")]
        article = knowledge.get_article(session=session, article_id="KB-0015")
        assert article.published_version == 2 and "New sentence." in versions[0].source
        assert {a.id for a in published_articles(session=session)} == set(_comparable(SEED))


def test_export_writes_back_what_the_seed_says(uow: UnitOfWork, tmp_path: Path) -> None:
    import_folder(uow=uow, folder=SEED)
    written = export_folder(uow=uow, folder=tmp_path / "out")
    assert len(written) == len(_comparable(SEED)) and all(p.suffix == ".md" for p in written)
    assert _comparable(tmp_path / "out") == _comparable(SEED)
    assert (tmp_path / "out" / "fr").is_dir() and next((tmp_path / "out" / "en").glob("KB-0006-*.md"))


# --- the bot's index follows the desk ----------------------------------------------------------------------


def test_a_retired_article_is_never_offered_again(uow: UnitOfWork, own_analyzer: Analyzer) -> None:
    import_folder(uow=uow, folder=SEED)
    assert sync_index(uow=uow, analyzer=own_analyzer) is True  # the index now carries the desk's stamp
    assert sync_index(uow=uow, analyzer=own_analyzer) is False
    pipeline = Pipeline(uow=uow, analyzer=own_analyzer, settings=BotSettings.defaults(), worker="w1")
    question = "I forgot my password and can't log in"
    offered = _offered(pipeline, question, thread="before")
    assert offered is not None, "the question must get a KB answer for this test to mean anything"
    with uow() as session:
        knowledge.retire(session=session, article_id=offered, actor="user:root", now=NOW)
    assert sync_index(uow=uow, analyzer=own_analyzer) is True
    assert offered not in own_analyzer.kb.articles
    assert offered not in [h.article_id for h in own_analyzer.search_kb(question, k=10)]
    assert _offered(pipeline, question, thread="after") != offered
    with uow() as session:
        assert knowledge.get_article(session=session, article_id=offered).shown == 1  # the first answer only


def test_the_requesters_yes_and_no_move_the_articles_counters(uow: UnitOfWork, analyzer: Analyzer) -> None:
    import_folder(uow=uow, folder=SEED)
    pipeline = Pipeline(uow=uow, analyzer=analyzer, settings=BotSettings.defaults(), worker="w1")
    question = "I forgot my password and can't log in"
    yes = _offered(pipeline, question, who="ana@corp.example")
    no = _offered(pipeline, question, who="bo@corp.example")
    assert yes is not None and yes == no
    _offered(pipeline, "", who="ana@corp.example", action="yes")
    _offered(pipeline, "", who="bo@corp.example", action="no")
    with uow() as session:
        article = knowledge.get_article(session=session, article_id=yes)
        assert (article.shown, article.solved, article.not_solved) == (2, 1, 1)


def test_a_request_no_article_answers_is_a_gap(uow: UnitOfWork, analyzer: Analyzer) -> None:
    # No hit reaches a retrieval threshold of 1: an IT request (one of the plumbing set's) is a gap. A message for
    # another department (a leaking coffee machine: Facilities) is no gap of IT's knowledge base.
    pipeline = Pipeline(uow=uow, analyzer=analyzer, settings=BotSettings.defaults(retrieval_threshold=1.0),
                        worker="w1")
    _offered(pipeline, "The coffee machine on the third floor leaks water onto the carpet", thread="t0")
    _offered(pipeline, "my external monitor shows no signal")
    with uow() as session:
        [gap] = knowledge.gaps(session=session)
        assert gap.text == "my external monitor shows no signal"
        assert gap.channel == "webchat" and gap.best_score < 1.0


# --- the editor's API, and publishing to a running service ----------------------------------------------------


def _token(uow: UnitOfWork, username: str, role: Role = Role.AGENT) -> dict[str, str]:
    with uow() as session:
        people.add_user(session=session, username=username, display_name=username.title(),
                        email=f"{username}@corp.example", role=role)
        secret = accounts.create_token(session=session, username=username, name="test", now=dt.datetime.now(dt.UTC))
    return {"Authorization": f"Bearer {secret.secret}"}


def _seed_source(article_id: str) -> str:
    return next(SEED.rglob(f"{article_id}-*.md")).read_text(encoding="utf-8")


def test_publishing_an_edit_reaches_the_running_bot_within_the_refresh_interval(
        uow: UnitOfWork, own_analyzer: Analyzer, serving, desk_settings, tmp_path: Path) -> None:  # noqa: ANN001
    import_folder(uow=uow, folder=SEED)
    agent, admin = _token(uow, "amy"), _token(uow, "root", Role.ADMIN)
    source = _seed_source("KB-0006")
    edited = source.replace("## Steps\n", "## Steps\n1. Check the sticker marked PURPLE-OTTER on your laptop.\n", 1)
    assert edited != source
    settings = desk_settings(kb_refresh_seconds=0.2, data_dir=tmp_path / "var")
    with serving(Deskbot(settings, analyzer=own_analyzer)) as running, \
            httpx.Client(base_url=running.url, timeout=30) as http:
        deadline = time.monotonic() + 60  # the first refresh rebuilds the fixture's index from the desk once
        while own_analyzer.kb.stamp == "" and time.monotonic() < deadline:
            time.sleep(0.05)
        saved = http.put(f"{EDIT}/articles/KB-0006", json={"source": edited, "note": "the sticker"}, headers=agent)
        assert saved.status_code == 200, saved.text
        assert (saved.json()["version"], saved.json()["published_version"]) == (2, 1)
        refused = http.post(f"{ADMIN}/articles/KB-0006/publish", headers=agent)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert "PURPLE-OTTER" not in http.get("/kb/KB-0006").text  # the edit waits for an admin
        published = http.post(f"{ADMIN}/articles/KB-0006/publish", headers=admin)
        assert published.status_code == 200 and published.json()["published_version"] == 2
        assert "PURPLE-OTTER" in http.get("/kb/KB-0006").text  # the pages read the desk: at once
        with uow() as session:
            assert knowledge.get_article(session=session, article_id="KB-0006").views == 2
        start = time.monotonic()
        while "PURPLE-OTTER" not in own_analyzer.kb.articles["KB-0006"].steps:
            assert time.monotonic() - start < 10, "the running bot did not pick up the published article"
            time.sleep(0.05)
        assert any("PURPLE-OTTER" in h.snippet for h in own_analyzer.search_kb("sticker marked PURPLE-OTTER", k=5)
                   if h.article_id == "KB-0006")
        history = http.get(f"{EDIT}/articles/KB-0006/history", headers=agent).json()
        assert [(v["number"], v["author"], v["note"], v["published"]) for v in history] == [
            (2, "user:amy", "the sticker", True), (1, "import", "imported", False)]


def test_the_editor_api_drafts_previews_and_reports(uow: UnitOfWork, on_loopback, desk_settings) -> None:  # noqa: ANN001
    from bot.composition import channel_states
    from bot.http import create_app

    import_folder(uow=uow, folder=SEED)
    agent = _token(uow, "amy")
    source = re.sub(r"^title: .*$", "title: Draft of a VPN article", _seed_source("KB-0006"), count=1, flags=re.M)
    source = source.replace("id: KB-0006", "id: KB-0099")
    deskbot = Deskbot(desk_settings())
    try:
        with on_loopback(create_app(deskbot=deskbot, channels=channel_states(deskbot.settings))) as http:
            broken = http.post(f"{EDIT}/articles", json={"source": "no front matter"}, headers=agent)
            assert broken.status_code == 422
            assert broken.json()["error"] == {"code": "invalid_request", "message":
                                              "the article: no YAML front matter (the file must start with '---')"}
            created = http.post(f"{EDIT}/articles", json={"source": source, "note": "new"}, headers=agent)
            assert created.status_code == 201, created.text
            assert {k: created.json()[k] for k in ("id", "status", "version", "published_version")} == {
                "id": "KB-0099", "status": "draft", "version": 1, "published_version": None}
            again = http.post(f"{EDIT}/articles", json={"source": source}, headers=agent)
            assert again.status_code == 409 and "exists already" in again.json()["error"]["message"]
            wrong = http.put(f"{EDIT}/articles/KB-0006", json={"source": source}, headers=agent)
            assert wrong.status_code == 422 and "KB-0099" in wrong.json()["error"]["message"]

            preview = http.post(f"{EDIT}/preview", json={"source": source}, headers=agent).json()
            with uow() as session:
                known = {a.id: a for a in published_articles(session=session)}
            draft = parse(source, where="the article")
            assert preview["html"] == render_article(draft, {**known, draft.id: draft})
            assert preview["title"] == "Draft of a VPN article"

            listed = http.get(f"{EDIT}/articles", params={"status": "draft"}, headers=agent).json()
            assert [a["id"] for a in listed] == ["KB-0099"]
            with uow() as session:
                for outcome in ("shown", "shown", "shown", "solved", "not_solved"):
                    knowledge.record_feedback(session=session, article_id="KB-0006", outcome=Feedback(outcome))
                knowledge.record_gap(session=session, text="coffee machine leaks", channel="email", intent="oos",
                                     best_article="KB-0057", best_score=0.2, now=dt.datetime.now(dt.UTC))
            stats = http.get(f"{EDIT}/articles/KB-0006/stats", headers=agent).json()
            assert stats == {"shown": 3, "solved": 1, "not_solved": 1, "unanswered": 1, "views": 0,
                             "success_rate": 0.5}
            gaps = http.get(f"{EDIT}/gaps", headers=agent).json()
            assert [(g["text"], g["best_article"]) for g in gaps] == [("coffee machine leaks", "KB-0057")]
            missing = http.get(f"{EDIT}/articles/KB-4040/history", headers=agent)
            assert missing.status_code == 404 and "KB-4040" in missing.json()["error"]["message"]
    finally:
        deskbot.close()


def test_the_kb_pages_say_so_when_the_desk_cannot_be_read(on_loopback) -> None:  # noqa: ANN001
    from fastapi import FastAPI

    from bot.kb_pages import kb_router
    from desk import DatabaseUnavailable

    def unreadable() -> dict:
        raise DatabaseUnavailable("connection refused")

    app = FastAPI()
    app.include_router(kb_router(articles=unreadable))
    with on_loopback(app) as http:
        for path in ("/kb", "/kb/KB-0001"):
            page = http.get(path)
            assert page.status_code == 503 and "cannot be read right now" in page.text
            assert "connection refused" not in page.text and "Traceback" not in page.text
