"""The one HTTP app as ``deskbot serve`` builds it: body limits on every route, /health, /docs.

The body limits run against a real uvicorn server on loopback with the Slack and web chat routes
mounted and their channels delivering to the real inbox; /health's view from another machine is
asked through the ASGI app with a non-loopback client address (tests only talk to loopback).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from bot.composition import Deskbot, build_service
from bot.settings import Settings
from desk.models import InboxRow

MiB = 1024 * 1024


def _settings(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class PeakRss:
    """The highest resident set size of this process (the server runs in it) while the block runs."""

    def __enter__(self) -> PeakRss:
        self.before = self.peak = _rss_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)
        self.peak = max(self.peak, _rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.before


@pytest.fixture
def served(desk_settings, serving, analyzer, fake_slack):  # noqa: ANN001, ANN201
    """The service with Slack and the web chat on; its workers handle what reaches the inbox."""
    settings = desk_settings(slack_bot_token="xoxb-test", slack_signing_secret="test-secret",
                             slack_api_url=fake_slack.url, webchat_allowed_domains=["corp.example"])
    with serving(Deskbot(settings, analyzer=analyzer)) as running:
        yield running


def _gigabyte() -> Iterator[bytes]:
    """1 GiB of JSON-ish bytes, made as it is sent (one 1 MiB chunk, over and over), never held whole."""
    chunk = b"{" + b'"x": 1, ' * (MiB // 8 - 1) + b"}"
    for _ in range(1024):
        yield chunk


def _inbox_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(InboxRow))


def _verified_chat(served, caplog: pytest.LogCaptureFixture) -> httpx.Client:
    """A web chat session signed in as the page does it; the code comes from the log (loopback public URL)."""
    browser = httpx.Client(base_url=f"{served.url}/chat", timeout=30)
    browser.post("/api/session").raise_for_status()
    with caplog.at_level("WARNING", logger="deskbot.verification"):
        browser.post("/api/verify/start", json={"email": "ann@corp.example"}).raise_for_status()
    [code] = re.findall(r"code for ann@corp\.example: (\d{6})", caplog.text)
    browser.post("/api/verify/confirm", json={"code": code}).raise_for_status()
    return browser


def test_a_gigabyte_posted_to_slack_and_the_web_chat_is_refused_with_flat_memory(
        served, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    browser = _verified_chat(served, caplog)
    slack = httpx.Client(base_url=served.url, timeout=300)
    # Slack's route meets the app's limit; the web chat's own, tighter one (64 KiB) comes first on its routes.
    for client, path, limit in ((slack, "/slack/events", MiB), (browser, "/api/messages", 64 * 1024)):
        with PeakRss() as rss:
            response = client.post(path, content=_gigabyte(), headers={"content-type": "application/json"})
        assert response.status_code == 413, (path, response.text)
        assert response.json() == {"error": f"the request is too large (at most {limit} bytes)"}
        assert rss.growth < 50 * MiB, f"{path}: the server grew by {rss.growth // MiB} MiB"
    assert _inbox_size(engine) == 0
    # the same connections still serve requests of a sensible size
    ok = browser.post("/api/messages", json={"id": str(uuid.uuid4()), "text": "my VPN drops"})
    assert ok.status_code == 202 and _inbox_size(engine) == 1
    slack.close()
    browser.close()


def test_a_declared_length_above_the_limit_is_refused_before_the_body_is_read(served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
        conn.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(2 * MiB).encode() + b"\r\n\r\n")  # and not one byte of the body
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = conn.recv(4096)
            assert data, "the server closed the connection without answering"
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b'"error": "the request is too large (at most 1048576 bytes)"' in answer


# --- the app without a server ---------------------------------------------------------------------


def _asgi(app, client: tuple[str, int]) -> httpx.AsyncClient:  # noqa: ANN001
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client), base_url="http://deskbot")


def _get(app, path: str, client: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx.Response:  # noqa: ANN001
    async def call() -> httpx.Response:
        async with _asgi(app, client) as http:
            return await http.get(path)

    return asyncio.run(call())


def _app(analyzer, database_url: str, **overrides: object):  # noqa: ANN001, ANN202
    return build_service(Deskbot(_settings(database_url, **overrides), analyzer=analyzer)).app


def test_health_tells_another_machine_only_ok_or_degraded(engine: Engine, analyzer) -> None:
    app = _app(analyzer, _url(engine))
    outside = _get(app, "/health", client=("10.1.2.3", 1234))
    assert outside.status_code == 200 and outside.json() == {"status": "ok"}
    inside = _get(app, "/health")
    assert inside.json()["database"] == "ok" and "Web chat" in inside.json()["channels"]

    down = _app(analyzer, "postgresql+psycopg://u:s3cret@127.0.0.1:1/x")
    outside = _get(down, "/health", client=("10.1.2.3", 1234))
    assert outside.status_code == 503 and outside.json() == {"status": "degraded"}
    inside = _get(down, "/health")
    assert inside.status_code == 503 and inside.json()["status"] == "degraded"
    assert inside.json()["database"].startswith("unavailable: database postgresql+psycopg://u:***@127.0.0.1:1/x: ")
    assert "s3cret" not in inside.text


def test_docs_can_be_turned_off(engine: Engine, analyzer) -> None:
    on, off = _app(analyzer, _url(engine)), _app(analyzer, _url(engine), http_docs=False)
    assert [_get(on, path).status_code for path in ("/docs", "/redoc", "/openapi.json")] == [200, 200, 200]
    assert [_get(off, path).status_code for path in ("/docs", "/redoc", "/openapi.json")] == [404, 404, 404]
    assert _get(off, "/health").status_code == 200


def test_a_path_prefix_can_have_a_limit_of_its_own(engine: Engine, analyzer) -> None:
    app = _app(analyzer, _url(engine), http_max_body_bytes_by_prefix={"/chat/api": 1000})

    async def post(path: str, size: int) -> httpx.Response:
        async with _asgi(app, ("127.0.0.1", 50000)) as http:
            return await http.post(path, content=b"x" * size)

    refused = asyncio.run(post("/chat/api/session", 1001))
    assert refused.status_code == 413 and "at most 1000 bytes" in refused.json()["error"]
    assert asyncio.run(post("/chat/api/session", 1000)).status_code == 200  # at the limit: through to the chat


def test_an_api_body_over_the_limit_is_refused_in_the_apis_error_shape(engine: Engine, analyzer, on_loopback) -> None:  # noqa: ANN001
    app = _app(analyzer, _url(engine), http_max_body_bytes=1000)
    too_large = "the request is too large (at most 1000 bytes)"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"text": "' + b"x" * 600
        yield b"x" * 600 + b'"}'

    with on_loopback(app) as client:
        for body in (b'{"text": "' + b"x" * 1000 + b'"}', chunked()):
            refused = client.post("/api/v1/tickets/1/reply", content=body, headers={"content-type": "application/json"})
            assert refused.status_code == 413, refused.text
            assert refused.json() == {"error": {"code": "payload_too_large", "message": too_large}}
        # under the limit it reaches the API (which wants a signed-in caller); the web chat keeps its own shape
        small = client.post("/api/v1/tickets/1/reply", json={"text": "hi"})
        assert small.status_code == 401 and small.json()["error"]["code"] == "not_authenticated"
        chat = client.post("/chat/api/session", content=b"x" * 1001)
        assert chat.status_code == 413 and chat.json() == {"error": too_large}
