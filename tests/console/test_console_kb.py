"""The console's knowledge-base editor over real HTTP: the article list, drafting with the live preview, versions,
publishing (admins only) and what reaches /kb and the bot's index, the numbers and the gaps, CSRF and escaping.

The HTTP app with the console and the /kb pages on uvicorn on loopback, as ``deskbot serve`` mounts them; the KB
of the plumbing NLP (tests/data/plumbing_nlp/kb) imported into the desk. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.composition import Deskbot, channel_states
from bot.console import console_router
from bot.http import create_app
from bot.retraining import Retraining
from bot.kb_pages import kb_router
from bot.knowledge import DeskArticles, import_folder, sync_index
from bot.settings import Settings
from desk import Role, UnitOfWork, accounts, administration, knowledge, people
from desk.domain import AdminAction, ArticleStatus, Feedback

PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
KB_SEED = Path(__file__).resolve().parents[1] / "data" / "plumbing_nlp" / "kb"
DRAFT = {"id": "KB-0990", "title": "Renew a smart-card certificate", "lang": "en", "translation_of": "",
         "category": "Accounts & Access", "intents": "password_reset", "tags": "smart-card, certificate",
         "body": "Your badge's certificate expires every two years.\n\n## Steps\n1. Open **Certificate Manager**.\n"
                 "2. Click *Renew* and type your PIN.\n", "note": "first draft"}


@pytest.fixture
def console(on_loopback, engine: Engine, uow: UnitOfWork):  # noqa: ANN001, ANN201
    """``with console() as client:`` the HTTP app with the console and /kb on a real server, the plumbing KB in
    the desk; the agent alice and the admin root, each with ``PASSWORD``."""
    import_folder(uow=uow, folder=KB_SEED)
    with uow() as session:
        for username, role in (("alice", Role.AGENT), ("root", Role.ADMIN)):
            people.add_user(session=session, username=username, display_name=username.title(), role=role,
                            email=f"{username}@corp.example", groups=["Network"])
            accounts.set_password(session=session, username=username, password=PASSWORD)

    @contextmanager
    def serve() -> Iterator[httpx.Client]:
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False))  # type: ignore[call-arg]
        deskbot = Deskbot(settings)
        published = DeskArticles(deskbot.uow)
        app = create_app(deskbot=deskbot, channels=channel_states(settings), routers=[
            kb_router(articles=published, viewed=published.viewed),
            console_router(uow=deskbot.uow, analyzer=lambda: None, kb_url=f"{settings.public_url}/kb",
                           retraining=Retraining.from_settings(settings), registry=deskbot.registry)])
        try:
            with on_loopback(app) as client:
                yield client
        finally:
            deskbot.close()

    return serve


def sign_in(client: httpx.Client, username: str = "alice") -> None:
    form = client.get("/console/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = client.post("/console/signin", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": token[1], "next": "/console/kb"})
    assert answer.status_code == 303, answer.text


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return re.findall(r'<tr data-article="([^"]+)"', page.text)


def create_draft(client: httpx.Client, **changes: str) -> httpx.Response:
    form = client.get("/console/kb/new")
    return client.post("/console/kb/new", data={**DRAFT, **changes, "csrf_token": csrf_of(form)})


def test_the_list_shows_every_article_with_its_numbers_and_filters_them(console, uow) -> None:  # noqa: ANN001
    with uow() as session:
        for outcome in ("shown", "shown", "shown", "shown", "solved", "solved", "solved", "not_solved"):
            knowledge.record_feedback(session=session, article_id="KB-0006", outcome=Feedback(outcome))
    with console() as client:
        sign_in(client)
        page = client.get("/console/kb")
        assert listed(page) == ["KB-0001", "KB-0003", "KB-0006", "KB-0015", "KB-0061"]
        row = page.text[page.text.index('<tr data-article="KB-0006"'):].split("</tr>")[0]
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
        assert cells[3:5] == ["published", "v1"] and "import" in cells[5]
        assert cells[6:9] == ["4", "3", "1"] and cells[9].endswith("75 %")  # shown, solved, not solved, success
        assert 'aria-current="page">Knowledge base</a>' in page.text  # the nav's section

        assert create_draft(client).status_code == 303
        assert listed(client.get("/console/kb?status=draft")) == ["KB-0990"]
        assert "KB-0990" not in listed(client.get("/console/kb?status=published"))
        assert listed(client.get("/console/kb?q=VPN")) == ["KB-0006"]
        assert listed(client.get("/console/kb?q=smart-card&lang=en")) == ["KB-0990"]
        assert listed(client.get("/console/kb?lang=fr")) == []
        bad = client.get("/console/kb?status=lost")
        assert bad.status_code == 422 and "status: &#39;lost&#39; is none of draft, published, retired" in bad.text


def test_a_draft_is_made_previewed_and_edited_into_a_new_version(console, uow) -> None:  # noqa: ANN001
    with console() as client:
        sign_in(client)
        created = create_draft(client)
        assert created.status_code == 303 and created.headers["location"] == "/console/kb/articles/KB-0990"
        page = client.get("/console/kb/articles/KB-0990")
        assert "draft" in page.text and "first draft" in page.text and "user:alice" in page.text
        assert "/publish" not in page.text  # an agent gets no publish or retire button

        editor = client.get("/console/kb/articles/KB-0990/edit")
        assert editor.status_code == 200 and 'value="Renew a smart-card certificate"' in editor.text
        assert '<script src="/console/static/kb_editor.js" defer></script>' in editor.text
        assert "<strong>Certificate Manager</strong>" in editor.text  # the preview, drawn with the page

        body = DRAFT["body"] + f"3. Done: {XSS} and **bold** text.\n"
        preview = client.post("/console/kb/preview", data={**DRAFT, "body": body, "csrf_token": csrf_of(editor)})
        assert preview.status_code == 200 and "<html" not in preview.text  # a fragment, for the editor's script
        assert "<strong>bold</strong>" in preview.text and "**" not in preview.text
        assert XSS not in preview.text and ESCAPED in preview.text
        assert "<h1>Renew a smart-card certificate</h1>" in preview.text and "<h2>Steps</h2>" in preview.text
        with uow() as session:
            assert knowledge.get_article(session=session, article_id="KB-0990").version == 1  # nothing saved
        no_steps = client.post("/console/kb/preview",
                               data={**DRAFT, "body": "Just text.", "csrf_token": csrf_of(editor)})
        assert no_steps.status_code == 422 and "no &#39;## Steps&#39; section" in no_steps.text
        blank = client.post("/console/kb/preview", data={**DRAFT, "title": " ", "csrf_token": csrf_of(editor)})
        assert blank.status_code == 422 and "give the article&#39;s title" in blank.text

        saved = client.post("/console/kb/articles/KB-0990/edit",
                            data={**DRAFT, "body": body, "note": "the last step", "csrf_token": csrf_of(editor)})
        assert saved.status_code == 303
        history = client.get("/console/kb/articles/KB-0990").text
        assert re.findall(r'<tr data-version="(\d+)"', history) == ["2", "1"] and "the last step" in history
        version = client.get("/console/kb/articles/KB-0990/versions/2")
        assert version.status_code == 200
        assert re.search(r'<span class="diff-added">\+ 3\. Done: ' + re.escape(ESCAPED), version.text)
        assert XSS not in version.text
        assert client.get("/console/kb/articles/KB-0990/versions/7").status_code == 404

        again = create_draft(client)
        assert again.status_code == 409 and "exists already" in again.text
        wrong = client.post("/console/kb/articles/KB-0990/edit",
                            data={**DRAFT, "id": "KB-0001", "csrf_token": csrf_of(editor)})
        assert wrong.status_code == 422 and "this is article KB-0990" in wrong.text
        assert client.get("/console/kb/articles/KB-4040").status_code == 404
    with uow() as session:
        article = knowledge.get_article(session=session, article_id="KB-0990")
        assert (article.status, article.version) == (ArticleStatus.DRAFT, 2)
        newest = knowledge.version_of(article)
        assert newest.author == "user:alice" and newest.note == "the last step" and "\r" not in newest.source


def test_an_admin_publishes_and_retires_an_agent_is_refused(console, uow, plumbing_nlp,  # noqa: ANN001
                                                            tmp_path) -> None:
    from nlp import Analyzer

    shutil.copytree(plumbing_nlp.kb_dir, tmp_path / "kb_index")  # an index of its own: this test changes the KB
    bot_nlp = Analyzer(embedder=plumbing_nlp.embedder, registry=plumbing_nlp.registry,
                       kb_index_dir=tmp_path / "kb_index")
    sync_index(uow=uow, analyzer=bot_nlp)
    with console() as client:
        sign_in(client)
        assert create_draft(client).status_code == 303
        page = client.get("/console/kb/articles/KB-0990")
        refused = client.post("/console/kb/articles/KB-0990/publish", data={"csrf_token": csrf_of(page)})
        assert refused.status_code == 403 and "this needs an admin" in refused.text
        assert client.post("/console/kb/articles/KB-0001/retire", data={"csrf_token": csrf_of(page)}).status_code == 403
        assert client.get("/kb/KB-0990").status_code == 404

    with console() as client:
        sign_in(client, "root")
        page = client.get("/console/kb/articles/KB-0990")
        assert "Publish v1" in page.text and "Retire" in page.text
        published = client.post("/console/kb/articles/KB-0990/publish", data={"csrf_token": csrf_of(page)},
                                follow_redirects=True)
        assert published.status_code == 200 and "live: v1" in published.text
        assert "Publish v1" not in published.text
        assert "Certificate Manager" in client.get("/kb/KB-0990").text  # the pages read the desk: at once
        # The running bot's KB refresh (bot.runtime, every kb_refresh_seconds) does this:
        assert sync_index(uow=uow, analyzer=bot_nlp) is True
        assert "Certificate Manager" in bot_nlp.kb.articles["KB-0990"].steps

        retired = client.post("/console/kb/articles/KB-0001/retire", data={"csrf_token": csrf_of(page)},
                              follow_redirects=True)
        assert retired.status_code == 200 and "retired" in retired.text
        assert client.get("/kb/KB-0001").status_code == 404
    with uow() as session:
        assert knowledge.get_article(session=session, article_id="KB-0990").status is ArticleStatus.PUBLISHED
        assert knowledge.get_article(session=session, article_id="KB-0001").status is ArticleStatus.RETIRED
        log = {(e.actor, e.action, e.target) for e in administration.admin_log(session=session)}
        assert {("user:root", AdminAction.KB_PUBLISHED, "KB-0990"),
                ("user:root", AdminAction.KB_RETIRED, "KB-0001")} <= log
        assert not any(actor == "user:alice" for actor, _, _ in log)


def test_a_form_without_the_csrf_token_changes_nothing(console, uow) -> None:  # noqa: ANN001
    with console() as client:
        sign_in(client, "root")
        for path, data in (("/console/kb/new", DRAFT), ("/console/kb/preview", DRAFT),
                           ("/console/kb/articles/KB-0006/edit", {**DRAFT, "id": "KB-0006"}),
                           ("/console/kb/articles/KB-0006/publish", {}), ("/console/kb/articles/KB-0006/retire", {})):
            for token in ({}, {"csrf_token": "forged"}):
                refused = client.post(path, data={**data, **token})
                assert refused.status_code == 403 and "not accepted" in refused.text, path
    with uow() as session:
        assert knowledge.get_article(session=session, article_id="KB-0006").status is ArticleStatus.PUBLISHED
        assert knowledge.get_article(session=session, article_id="KB-0006").version == 1
        assert [a.id for a in knowledge.list_articles(session=session, status=ArticleStatus.DRAFT)] == []


def test_the_numbers_and_the_gaps_show_what_the_desk_recorded(console, uow) -> None:  # noqa: ANN001
    now = dt.datetime.now(dt.UTC)
    with uow() as session:
        for outcome in ("shown",) * 5 + ("solved", "not_solved", "not_solved", "viewed"):
            knowledge.record_feedback(session=session, article_id="KB-0015", outcome=Feedback(outcome))
        for minutes, text, channel in ((50, "badge reader at door 4 beeps red", "email"),
                                       (40, "Badge reader at door 4  beeps red", "slack"),
                                       (30, "badge reader at door 4 beeps red", "webchat"),
                                       (20, "how do I order a second monitor", "email"),
                                       (10, XSS, "webchat")):
            knowledge.record_gap(session=session, text=text, channel=channel, intent=None, best_article="KB-0003",
                                 best_score=0.21, now=now - dt.timedelta(minutes=minutes))
        knowledge.record_gap(session=session, text="last year's question", channel="email", intent=None,
                             best_article=None, best_score=0.0, now=now - dt.timedelta(days=400))
    with console() as client:
        sign_in(client)
        stats = client.get("/console/kb/articles/KB-0015").text
        numbers = dict(re.findall(r'<dd data-stat="(\w+)">(.*?)</dd>', stats, re.DOTALL))
        assert {k: numbers[k] for k in ("shown", "solved", "not_solved", "unanswered", "views")} == {
            "shown": "5", "solved": "1", "not_solved": "2", "unanswered": "2", "views": "1"}
        assert "33 %" in numbers["success_rate"]

        gaps = client.get("/console/kb/gaps")
        assert gaps.status_code == 200
        rows = re.findall(r'<tr data-count="(\d+)">\s*<td class="n">\d+</td>\s*<td class="subject">(.*?)</td>\s*'
                          r"<td>(.*?)</td>", gaps.text, re.DOTALL)
        assert rows[0] == ("3", "badge reader at door 4 beeps red", "email, slack, webchat")  # most frequent first
        assert [(count, text) for count, text, _ in rows[1:]] == [("1", ESCAPED),
                                                                  ("1", "how do I order a second monitor")]
        assert "last year" not in gaps.text and XSS not in gaps.text


def test_a_script_in_an_articles_title_shows_as_text(console) -> None:  # noqa: ANN001
    with console() as client:
        sign_in(client)
        made = create_draft(client, title=XSS, body=f"{XSS}\n\n## Steps\n1. <img src=x onerror=alert(2)>\n")
        assert made.status_code == 303
        for path in ("/console/kb", "/console/kb/articles/KB-0990", "/console/kb/articles/KB-0990/edit",
                     "/console/kb/articles/KB-0990/versions/1"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert XSS not in page.text and "<img src=x" not in page.text, path
            assert ESCAPED in page.text, path
            assert "<script>" not in page.text and "style=" not in page.text, path  # nothing inline for the CSP
