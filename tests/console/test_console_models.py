"""The console's model page over real HTTP (no browser): versions with their metrics, a version's detail,
activation and rollback (audited), retraining started from the page up to its verdict, and who may do it.

The HTTP app as ``deskbot serve`` mounts the console, on uvicorn on loopback, SQLite and PostgreSQL. Retraining
really runs in a process of its own, on a tiny slice of the packaged data with the deterministic hashing embedder
(as tests/bot/test_api_retraining.py does), so that it takes seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from tiny_nlp_data import INTENTS, confirm_an_intent, write_tiny_data

from bot.composition import Deskbot, channel_states
from bot.console import console_router
from bot.http import create_app
from bot.retraining import Retraining
from bot.settings import Settings
from desk import Role, UnitOfWork, accounts, administration, people
from desk.domain import AdminAction
from nlp import ModelRegistry
from nlp.registry import REPORT_FILE

PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
PAGE = "/console/admin/models"


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return Settings(database_url=engine.url.render_as_string(hide_password=False),  # type: ignore[call-arg]
                    data_dir=tmp_path / "var", nlp_backend="hashing",
                    nlp_data_dir=write_tiny_data(tmp_path / "data"))


@pytest.fixture
def client(on_loopback, settings: Settings, uow: UnitOfWork) -> Iterator[httpx.Client]:  # noqa: ANN001
    """The HTTP app with the console; the agent alice and the admin root, each with ``PASSWORD``."""
    with uow() as session:
        for username, role in (("alice", Role.AGENT), ("root", Role.ADMIN)):
            people.add_user(session=session, username=username, display_name=username.title(), role=role,
                            email=f"{username}@corp.example", groups=["Network"])
            accounts.set_password(session=session, username=username, password=PASSWORD)
    deskbot = Deskbot(settings)
    app = create_app(deskbot=deskbot, channels=channel_states(settings), routers=[
        console_router(uow=deskbot.uow, analyzer=lambda: None, kb_url=f"{settings.public_url}/kb",
                       retraining=Retraining.from_settings(settings), registry=deskbot.registry)])
    try:
        with on_loopback(app) as c:
            yield c
    finally:
        deskbot.close()


def sign_in(client: httpx.Client, username: str = "root") -> None:
    form = client.get("/console/signin")
    answer = client.post("/console/signin", data={"username": username, "password": PASSWORD,
                                                  "csrf_token": csrf_of(form), "next": "/console/"})
    assert answer.status_code == 303, answer.text


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


def row_of(page: httpx.Response, version: str) -> str:
    found = re.search(rf'<tr data-version="{version}".*?</tr>', page.text, re.DOTALL)
    assert found, page.text
    return found[0]


def saved_versions(settings: Settings, count: int) -> list[str]:
    """Versions saved straight into the registry with made-up metrics (activation needs no trained model)."""
    registry = ModelRegistry(settings.model_dir)
    return [registry.save({"bundle": n}, {"metrics": {"accuracy": 0.5 + n / 10, "macro_f1": 0.4 + n / 10,
                                                      "oos_precision": 0.9, "oos_recall": 0.25 * n}})
            for n in range(1, count + 1)]


def audited_activations(uow: UnitOfWork) -> list[tuple[str, str | None, str | None]]:
    with uow() as session:
        return [(e.actor, e.old, e.new) for e in administration.admin_log(session=session)
                if e.action is AdminAction.MODEL_ACTIVATED]


def test_the_list_shows_every_version_with_its_metrics_and_activate_and_rollback_are_audited(
        client: httpx.Client, settings: Settings, uow: UnitOfWork) -> None:
    v1, v2 = saved_versions(settings, 2)
    sign_in(client)
    page = client.get(PAGE)
    assert page.status_code == 200 and "Intent model" in page.text
    assert page.text.index(f'data-version="{v2}"') < page.text.index(f'data-version="{v1}"')  # newest first
    assert all(cell in row_of(page, v1) for cell in ("60.0%", "50.0%", "90.0%", "25.0%"))
    assert all(cell in row_of(page, v2) for cell in ("70.0%", "60.0%", "90.0%", "50.0%"))
    assert "active</span>" not in page.text and "no earlier active version" in page.text
    assert "<strong>0</strong> agent-confirmed labels" in page.text

    for version in (v1, v2):
        done = client.post(f"{PAGE}/{version}/activate", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=activated"
    page = client.get(f"{PAGE}?done=activated")
    assert f"{v2} is the active model now" in page.text
    assert "active</span>" in row_of(page, v2) and "Activate" not in row_of(page, v2)
    assert "active</span>" not in row_of(page, v1) and "Activate" in row_of(page, v1)
    assert f"to {v1}, the version active before {v2}" in page.text

    back = client.post(f"{PAGE}/rollback", data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert back.status_code == 200 and f"Rolled back: {v1} is the active model again." in back.text
    assert ModelRegistry(settings.model_dir).active_version() == v1
    none_left = client.post(f"{PAGE}/rollback", data={"csrf_token": csrf_of(page)})
    assert none_left.status_code == 409
    assert "Not rolled back: no earlier active version to roll back to." in none_left.text
    missing = client.post(f"{PAGE}/v9999/activate", data={"csrf_token": csrf_of(page)})
    assert missing.status_code == 404 and "Not activated: no model version &#39;v9999&#39;." in missing.text
    assert ModelRegistry(settings.model_dir).active_version() == v1

    assert audited_activations(uow) == [("user:root", v2, v1), ("user:root", v1, v2), ("user:root", None, v1)]


def test_a_versions_detail_has_its_per_intent_table_and_names_from_outside_show_as_text(
        client: httpx.Client, settings: Settings) -> None:
    registry = ModelRegistry(settings.model_dir)
    version = registry.save({"bundle": 1}, {"embedder": XSS, "metrics": {"macro_f1": 0.5},
                                            "thresholds": {"out_of_scope": 0.42}})
    per_intent = {XSS: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 4},
                  "vpn_connection": {"precision": 1.0, "recall": 0.75, "f1": 0.857, "support": 8}}
    (registry.folder(version) / REPORT_FILE).write_text(json.dumps({"intent": {"per_intent": per_intent}}))
    sign_in(client)
    page = client.get(f"{PAGE}/{version}")
    assert page.status_code == 200 and f"<h1>{version} " in page.text
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<td>vpn_connection</td><td>100.0%</td><td>75.0%</td><td>85.7%</td><td>8</td>" in page.text
    assert "Threshold: out of scope</th><td>0.42" in page.text
    assert "has no confusion matrix" in page.text and f"Activate {version}" in page.text

    unknown = client.get(f"{PAGE}/v0042")
    assert unknown.status_code == 404 and "no model version &#39;v0042&#39;" in unknown.text


def test_retrain_now_runs_in_the_background_to_a_verdict_shown_on_the_page(
        client: httpx.Client, uow: UnitOfWork, settings: Settings) -> None:
    sign_in(client)
    page = client.get(PAGE)
    assert "No model has been trained yet" in page.text and 'id="retraining"' not in page.text
    assert '<script src="/console/static/models.js" defer></script>' in page.text
    assert client.get("/console/static/models.js").status_code == 200

    started = client.post(f"{PAGE}/retrain", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == f"{PAGE}?done=retraining"
    page = client.get(started.headers["location"])
    assert "Retraining has started" in page.text
    fragment_url = re.search(r'data-src="([^"]+)"', page.text)
    assert fragment_url and fragment_url[1].startswith(f"{PAGE}/retraining/"), page.text
    again = client.post(f"{PAGE}/retrain", data={"csrf_token": csrf_of(page)})  # the child is still importing
    assert again.status_code == 409 and "Not started: a retraining is running" in again.text

    first = finished_fragment(client, fragment_url[1])
    version = ModelRegistry(settings.model_dir).active_version()
    assert version and f"{version}</a> activated</strong>: first model." in first
    page = client.get(PAGE)
    assert "active</span>" in row_of(page, version) and f"{version}</a> activated</strong>" in page.text
    assert all(label in page.text for label in ("Accuracy", "Macro-F1", "Out-of-scope precision"))

    detail = client.get(f"{PAGE}/{version}")
    assert all(f"<td>{intent}</td>" in detail.text for intent in INTENTS)
    png = re.search(r'<img class="confusion" src="([^"]+)"', detail.text)
    assert png, detail.text
    image = client.get(png[1])
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"

    # An agent-confirmed label joins the next training; the guard compares it with the active model.
    confirm_an_intent(uow, "my vpn client cannot reach the gateway since this morning", "vpn_connection")
    page = client.get(PAGE)
    assert "<strong>1</strong> agent-confirmed label to the packaged data:" in page.text
    client.post(f"{PAGE}/retrain", data={"csrf_token": csrf_of(page)})
    second = finished_fragment(client, re.search(r'data-src="([^"]+)"', client.get(PAGE).text)[1])  # type: ignore[index]
    new = re.search(r'<a href="/console/admin/models/(v\d+)">\1</a> (activated|refused)</strong>', second)
    assert new and new[1] != version, second
    assert f"Active before ({version})" in second and "Trained with 1 agent-confirmed label;" in second
    assert (new[2] == "activated") == (ModelRegistry(settings.model_dir).active_version() == new[1])
    assert ("not worse than the active model" in second) == (new[2] == "activated")


def finished_fragment(client: httpx.Client, url: str, *, timeout: float = 240) -> str:
    """The job's fragment, as the page's script polls it, once the job no longer runs."""
    deadline = time.monotonic() + timeout
    while True:
        fragment = client.get(url)
        assert fragment.status_code == 200, fragment.text
        if 'data-status="running"' not in fragment.text:
            assert 'data-status="finished"' in fragment.text, fragment.text
            return fragment.text
        assert "<progress" in fragment.text
        assert time.monotonic() < deadline, f"retraining still runs after {timeout} s: {fragment.text}"
        time.sleep(0.3)


def test_an_agent_is_refused_and_a_form_without_the_csrf_token_changes_nothing(
        client: httpx.Client, settings: Settings, uow: UnitOfWork) -> None:
    v1, v2 = saved_versions(settings, 2)
    ModelRegistry(settings.model_dir).activate(v1)
    sign_in(client, "alice")
    queues = client.get("/console/")
    assert "/console/admin/models" not in queues.text  # no Models link in an agent's nav
    for method, path in (("GET", PAGE), ("GET", f"{PAGE}/{v1}"), ("GET", f"{PAGE}/retraining/20240101-000000-abcdef"),
                         ("POST", f"{PAGE}/{v2}/activate"), ("POST", f"{PAGE}/rollback"), ("POST", f"{PAGE}/retrain")):
        refused = client.request(method, path, data={"csrf_token": csrf_of(queues)} if method == "POST" else None)
        assert refused.status_code == 403 and "Admins only" in refused.text, (method, path)
        assert refused.headers["content-security-policy"].startswith("default-src 'self'")

    client.cookies.clear()
    sign_in(client, "root")
    page = client.get(PAGE)
    assert 'href="/console/admin/models" aria-current="page">Models</a>' in page.text
    for data in ({}, {"csrf_token": "forged"}):
        for path in (f"{PAGE}/{v2}/activate", f"{PAGE}/rollback", f"{PAGE}/retrain"):
            refused = client.post(path, data=data)
            assert refused.status_code == 403 and "not accepted" in refused.text, path
    assert ModelRegistry(settings.model_dir).active_version() == v1
    assert audited_activations(uow) == [] and Retraining.from_settings(settings).jobs() == []
    assert client.get(f"{PAGE}/retraining/20240101-000000-abcdef").status_code == 404
