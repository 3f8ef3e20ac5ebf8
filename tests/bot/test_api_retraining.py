"""Model versions and retraining over real HTTP: the app as ``deskbot serve`` builds it, on uvicorn on loopback.

SQLite and PostgreSQL. Retraining really runs in a process of its own (``python -m bot.retraining``), on a tiny
slice of the packaged data and the deterministic hashing embedder, so that it takes seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from tiny_nlp_data import INTENTS, confirm_an_intent, write_tiny_data

from bot.composition import Deskbot, channel_states
from bot.http import create_app
from bot.settings import Settings
from bot.web.api import PREFIX
from desk import Role, UnitOfWork, accounts, people
from nlp import ModelRegistry

ADMIN = f"{PREFIX}/admin"


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return write_tiny_data(tmp_path / "data")


@pytest.fixture
def settings(engine: Engine, tmp_path: Path, tiny_data: Path) -> Settings:
    return Settings(database_url=engine.url.render_as_string(hide_password=False),  # type: ignore[call-arg]
                    data_dir=tmp_path / "var", nlp_backend="hashing", nlp_data_dir=tiny_data)


@pytest.fixture
def client(on_loopback, settings: Settings, uow: UnitOfWork) -> Iterator[httpx.Client]:  # noqa: ANN001
    with uow() as session:
        people.add_user(session=session, username="alice", display_name="Alice", email="alice@corp.example",
                        groups=["Network"])
        people.add_user(session=session, username="root", display_name="Root", email="root@corp.example",
                        role=Role.ADMIN)
    deskbot = Deskbot(settings)
    try:
        with on_loopback(create_app(deskbot=deskbot, channels=channel_states(settings))) as c:
            yield c
    finally:
        deskbot.close()


def bearer(uow: UnitOfWork, username: str) -> dict[str, str]:
    with uow() as session:
        token = accounts.create_token(session=session, username=username, name="test", now=dt.datetime.now(dt.UTC))
    return {"Authorization": f"Bearer {token.secret}"}


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


def finished(client: httpx.Client, job: str, headers: dict[str, str], *, timeout: float = 240) -> dict:
    """The job's state once it is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"{ADMIN}/retraining/{job}", headers=headers)
        assert state.status_code == 200, state.text
        if state.json()["status"] != "running":
            return state.json()
        assert time.monotonic() < deadline, f"retraining {job} still runs after {timeout} s: {state.json()}"
        time.sleep(0.3)


def test_retraining_runs_in_its_own_process_and_its_verdict_and_confusion_matrix_are_served(
        uow: UnitOfWork, client: httpx.Client) -> None:
    root = bearer(uow, "root")
    assert client.get(f"{ADMIN}/retraining/labels", headers=root).json() == {"labels": 0, "by_intent": {}}

    started = client.post(f"{ADMIN}/retraining", json={}, headers=root)
    assert started.status_code == 202, started.text
    job = started.json()["job"]
    assert started.json()["status"] == "running" and started.json()["actor"] == "user:root"
    again = client.post(f"{ADMIN}/retraining", json={}, headers=root)  # the child is still importing, at least
    assert again.status_code == 409 and error_of(again)["code"] == "conflict" and job in error_of(again)["message"]

    first = finished(client, job, root)
    assert first["status"] == "finished", first
    assert first["pid"] not in (None, os.getpid())  # trained elsewhere: this process only serves
    assert first["fraction"] == 1.0 and first["stage"] == "done" and first["log_tail"]
    verdict = first["verdict"]
    assert verdict["activated"] and verdict["reason"] == "first model" and verdict["previous"] is None
    assert set(verdict["metrics"]) >= {"accuracy", "macro_f1", "oos_precision", "oos_recall"}
    assert client.get(f"{ADMIN}/retraining", headers=root).json()[0]["job"] == job  # found again after a reload

    version = verdict["version"]
    detail = client.get(verdict["model_url"], headers=root)
    assert detail.status_code == 200 and detail.json()["active"] and detail.json()["version"] == version
    assert {row["intent"] for row in detail.json()["per_intent"]} == set(INTENTS)
    assert detail.json()["metrics"]["macro_f1"] == verdict["metrics"]["macro_f1"]
    png = client.get(detail.json()["confusion_url"], headers=root)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"

    # Agent-confirmed labels join the next training, which the guard compares with the active model.
    confirm_an_intent(uow, "my vpn client cannot reach the gateway since this morning", "vpn_connection")
    labels = client.get(f"{ADMIN}/retraining/labels", headers=root).json()
    assert labels == {"labels": 1, "by_intent": {"vpn_connection": 1}}
    second = finished(client, client.post(f"{ADMIN}/retraining", json={}, headers=root).json()["job"], root)
    verdict = second["verdict"]
    assert second["status"] == "finished" and verdict["agent_confirmed"] == 1 and verdict["previous"] == version
    assert set(verdict["previous_metrics"]) == set(verdict["metrics"])
    assert verdict["reason"].startswith(("not worse than the active model", "worse than the active model"))
    assert verdict["activated"] == verdict["reason"].startswith("not worse")

    audit = client.get(f"{ADMIN}/audit", headers=root).json()
    assert [(e["action"], e["actor"]) for e in audit if e["target"] == version][-2:] == [
        ("model.activated", "user:root"), ("model.retraining", "user:root")]


def test_a_killed_training_is_reported_failed_and_frees_the_next_start(uow: UnitOfWork, client: httpx.Client) -> None:
    root = bearer(uow, "root")
    job = client.post(f"{ADMIN}/retraining", json={}, headers=root).json()["job"]
    deadline = time.monotonic() + 60
    while (pid := client.get(f"{ADMIN}/retraining/{job}", headers=root).json()["pid"]) is None:
        assert time.monotonic() < deadline, "the training process never said it runs"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    state = finished(client, job, root, timeout=30)
    assert state["status"] == "failed" and "ended without a result" in state["error"] and state["verdict"] is None
    restarted = client.post(f"{ADMIN}/retraining", json={}, headers=root)
    assert restarted.status_code == 202, restarted.text
    assert finished(client, restarted.json()["job"], root)["status"] == "finished"


def test_activate_and_roll_back_model_versions(uow: UnitOfWork, client: httpx.Client, settings: Settings) -> None:
    registry = ModelRegistry(settings.model_dir)  # versions saved directly: activation needs no trained model
    v1, v2 = (registry.save({"bundle": n}, {"metrics": {"accuracy": 0.5 + n / 10}}) for n in (1, 2))
    root = bearer(uow, "root")
    listed = client.get(f"{ADMIN}/models", headers=root).json()
    assert [(m["version"], m["active"], m["metrics"]["accuracy"]) for m in listed] == [(v1, False, 0.6), (v2, False, 0.7)]
    assert listed[0]["confusion_url"] is None

    for version in (v1, v2):
        answer = client.post(f"{ADMIN}/models/{version}/activate", headers=root)
        assert answer.status_code == 200 and answer.json()["active"], answer.text
    back = client.post(f"{ADMIN}/models/rollback", headers=root)
    assert back.status_code == 200 and back.json()["version"] == v1 and registry.active_version() == v1
    none_left = client.post(f"{ADMIN}/models/rollback", headers=root)
    assert none_left.status_code == 409 and "no earlier active version" in error_of(none_left)["message"]

    for path in ("models/v9999/activate", "models/%2e%2e/activate"):
        missing = client.post(f"{ADMIN}/{path}", headers=root)
        assert missing.status_code == 404, (path, missing.text)
    assert client.get(f"{ADMIN}/models/{v1}/confusion.png", headers=root).status_code == 404
    assert client.get(f"{ADMIN}/retraining/not-a-job", headers=root).status_code == 404
    assert client.post(f"{ADMIN}/models/{v2}/activate", headers=bearer(uow, "alice")).status_code == 403

    audit = [(e["action"], e["old"], e["new"]) for e in client.get(f"{ADMIN}/audit", headers=root).json()]
    assert audit[:3] == [("model.activated", v2, v1), ("model.activated", v1, v2), ("model.activated", None, v1)]
