"""Shared fixtures: the loopback-only guard and the desk on SQLite and PostgreSQL.

Every database test runs twice, once per backend. PostgreSQL is the machine's server
(``DESKBOT_TEST_POSTGRES_URL``, default the local trust-auth ``postgres`` user); each
test session creates its own database there and drops it at the end.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bot.composition import Deskbot, Service, build_service
from fake_platforms import FakeSlack, FakeTelegram
from loopback import bound_port
from bot.settings import DEFAULT_NLP_BACKEND, Settings
from desk import UnitOfWork, make_engine, migrate, session_factory
from desk.defaults import ensure_defaults
from desk.models import Base

if TYPE_CHECKING:
    from nlp import Analyzer, Embedder, IntentExample, KbIndex, ModelRegistry, TrainResult

POSTGRES_ADMIN_URL = os.environ.get(
    "DESKBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


# --- tests talk to loopback only -----------------------------------------------------------


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(real):  # noqa: ANN001, ANN202
        def connect(self, address):  # noqa: ANN001, ANN202
            if not _is_loopback(address):
                raise AssertionError(f"test tried to reach {address!r}: tests talk to loopback only")
            return real(self, address)

        return connect

    monkeypatch.setattr(socket.socket, "connect", guarded(real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(real_connect_ex))


# --- an ASGI app on a real uvicorn server on loopback ---------------------------------------------


@contextmanager
def _on_loopback(app: object, *, path: str = "", timeout: float = 30) -> Iterator[httpx.Client]:
    """``app`` served by uvicorn in a thread on a free loopback port; a client for ``path`` on it."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{bound_port(server)}{path}", timeout=timeout) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def on_loopback():  # noqa: ANN201
    """``with on_loopback(app) as client:`` a real HTTP server for ``app`` (test modules cannot import each other)."""
    return _on_loopback


# --- databases ---------------------------------------------------------------------------------


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


@contextmanager
def _fresh_postgres_database() -> Iterator[str]:
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable in CI: {problem}")
        pytest.skip(f"PostgreSQL not reachable ({problem}); set DESKBOT_TEST_POSTGRES_URL")
    name = f"deskbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _fresh_database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'desk-{uuid.uuid4().hex[:8]}.db'}"
    else:
        with _fresh_postgres_database() as url:
            yield url


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database on each backend, shared by the tests of one session (see ``engine``)."""
    with _fresh_database(request.param, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for one test, on each backend."""
    with _fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _wipe(engine: Engine) -> None:
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name != "counters"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
        conn.execute(text("UPDATE counters SET value = 999 WHERE name = 'ticket_number'"))


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    """The migrated database, emptied and seeded with the default groups, routing and SLAs."""
    _wipe(migrated_engine)
    uow = UnitOfWork(session_factory(migrated_engine))
    with uow() as session:
        ensure_defaults(session=session)
    return migrated_engine


@pytest.fixture
def uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(session_factory(engine))


# --- the service as ``deskbot serve`` builds it (bot.composition.build_service), for the end-to-end tests ------------
# (tests/bot and tests/console): they choose settings and an analyzer, never how the parts are wired.


@dataclass(frozen=True)
class Running:
    service: Service
    port: int
    loop: asyncio.AbstractEventLoop  # the one event loop HTTP, the channels, workers and dispatchers share

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def desk_settings(engine: Engine) -> Callable[..., Settings]:
    """``desk_settings(**changes)``: settings on the test database, SMTP on a free loopback port."""
    def make(**changes: object) -> Settings:
        values: dict[str, object] = {"database_url": engine.url.render_as_string(hide_password=False), "smtp_port": 0}
        return Settings(**{**values, **changes})  # type: ignore[arg-type]

    return make


@pytest.fixture
def serving() -> Callable[[Deskbot], AbstractContextManager[Running]]:
    """``with serving(deskbot) as running:`` ``build_service(deskbot)`` run as ``deskbot serve`` runs it (HTTP, the
    channels its settings turn on, workers, one dispatcher per channel) on a free loopback port, in a thread."""
    @contextmanager
    def serve(deskbot: Deskbot) -> Iterator[Running]:
        import uvicorn

        service = build_service(deskbot)
        server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=0, log_level="warning",
                                               lifespan="on", timeout_graceful_shutdown=2))
        loops: list[asyncio.AbstractEventLoop] = []

        async def run() -> None:
            loops.append(asyncio.get_running_loop())
            await service.run(server)

        thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
                time.sleep(0.02)
            yield Running(service, bound_port(server), loops[0])
        finally:
            server.should_exit = True
            thread.join(30)
            deskbot.close()

    return serve


# --- the NLP: the real one for NLP tests, a fixed small one for plumbing tests ---------------------------------

ROOT = Path(__file__).resolve().parents[1]
# Plumbing tests (pipeline, agents, channels end to end, crash tests) send only texts of this fixed set; see its README.
PLUMBING_NLP_DATA = ROOT / "tests" / "data" / "plumbing_nlp"


class TrainedNlp(NamedTuple):
    embedder: Embedder
    registry: ModelRegistry
    kb_dir: Path  # the KB index
    result: TrainResult
    index: KbIndex
    kb_articles: Path  # the Markdown articles the index was built from (DESKBOT_KB_DIR of a deskbot process)


@pytest.fixture(scope="session")
def real_nlp(tmp_path_factory: pytest.TempPathFactory) -> TrainedNlp:
    """The packaged MiniLM on the backend deskbot uses by default (one thread), a model trained on nlp/data and the
    KB index: for NLP-quality tests, so they measure what a new install serves."""
    from desk.taxonomy import packaged_taxonomy
    from nlp import IntentRoles, ModelRegistry, make_embedder, reindex, train_and_register

    folder = tmp_path_factory.mktemp("nlp")
    embedder = make_embedder(backend=DEFAULT_NLP_BACKEND, threads=1, cache_dir=folder)
    registry = ModelRegistry(folder / "models")
    result = train_and_register(data_dir=ROOT / "nlp" / "data", embedder=embedder, registry=registry,
                                roles=IntentRoles(*packaged_taxonomy().intent_roles()))
    index, _ = reindex(ROOT / "kb_articles", folder / "kb", embedder)
    return TrainedNlp(embedder, registry, folder / "kb", result, index, ROOT / "kb_articles")


@pytest.fixture(scope="session")
def plumbing_nlp(tmp_path_factory: pytest.TempPathFactory) -> TrainedNlp:
    """The hashing embedder that ``DESKBOT_NLP_BACKEND=hashing`` builds (deterministic, no torch), a model trained
    on the fixed set in tests/data/plumbing_nlp and its KB: a retrain of the packaged model cannot change what
    plumbing tests see. All of the set trains and sets the thresholds (it is the set of texts the tests send), and
    every text of it is checked to come out as its file labels it."""
    from nlp import ModelRegistry, load_intent_examples, make_embedder, reindex, train_and_register

    folder = tmp_path_factory.mktemp("plumbing-nlp")
    embedder = make_embedder(backend="hashing")
    registry = ModelRegistry(folder / "models")
    examples = load_intent_examples(PLUMBING_NLP_DATA / "intents")
    result = train_and_register(data_dir=PLUMBING_NLP_DATA, embedder=embedder, registry=registry,
                                intents={"train": examples, "val": examples, "test": examples},
                                oos_recall_target=None)  # the most flagged at 85 % precision: odd texts stay out
    index, report = reindex(PLUMBING_NLP_DATA / "kb", folder / "kb", embedder)
    assert not report.errors, report.errors
    nlp = TrainedNlp(embedder, registry, folder / "kb", result, index, PLUMBING_NLP_DATA / "kb")
    _check_plumbing_nlp(nlp, examples)
    return nlp


def _check_plumbing_nlp(nlp: TrainedNlp, examples: list[IntentExample]) -> None:
    """Each text of the fixed set is classified as labelled (in scope and confident enough to act on, or out of
    scope), and each text of its sentiment file is frustrated or not as labelled: what plumbing tests rely on."""
    from nlp import OOS
    from nlp.sentiment import load_sentiment_examples

    analyzer = _analyzer(nlp)
    wrong = []
    for example, a in zip(examples, analyzer.analyze_many([e.text for e in examples])):
        got = OOS if a.out_of_scope else a.intent if a.confidence >= a.answer_threshold else f"{a.intent} (unsure)"
        if got != example.intent:
            wrong.append(f"{example.text!r}: {example.intent} labelled, {got} {a.confidence:.2f} found")
    feelings = load_sentiment_examples(PLUMBING_NLP_DATA / "sentiment.csv")
    for example, a in zip(feelings, analyzer.analyze_many([e.text for e in feelings])):
        if a.frustrated != (example.frustration >= 2):
            wrong.append(f"{example.text!r}: frustration {example.frustration} labelled, {a.frustration:.2f} found")
    assert not wrong, "the plumbing NLP (tests/data/plumbing_nlp) does not fit its own texts:\n" + "\n".join(wrong)


@pytest.fixture(scope="session")
def analyzer(plumbing_nlp: TrainedNlp) -> Analyzer:
    """The plumbing tests' NLP (see ``plumbing_nlp``)."""
    return _analyzer(plumbing_nlp)


@pytest.fixture(scope="session")
def real_analyzer(real_nlp: TrainedNlp) -> Analyzer:
    """The packaged model's NLP (see ``real_nlp``)."""
    return _analyzer(real_nlp)


def _analyzer(nlp: TrainedNlp) -> Analyzer:
    from nlp import Analyzer

    return Analyzer(embedder=nlp.embedder, registry=nlp.registry, kb_index_dir=nlp.kb_dir)


# --- fake Slack and Telegram servers on loopback (tests/support/fake_platforms.py) ----------------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.close()
