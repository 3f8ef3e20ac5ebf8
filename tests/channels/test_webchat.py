"""The web chat channel on a real uvicorn server on loopback, driven with httpx like a browser.

``send_code`` records (email, code): that is the boundary, a real one would send an email. Codes are
the bot's verification service (``bot.verification``), kept in the same desk.
``on_message`` stands in for the bot's inbox: it records the message and says whether its
key was new. The sign-in limits are counted in a real (SQLite) desk through the limiter that
deskbot's composition builds; tests/bot/test_webchat_signin.py runs them on both backends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bot.chat_sessions import DeskChatSessions
from bot.composition import DeskRateLimiter
from bot.verification import ChatVerification, VerificationLimits
from bot.conversation import (
    ArticleLink,
    Button,
    ConversationRef,
    InboundMessage,
    Reply,
    SendError,
)
from channels.webchat import COOKIE_NAME, SignInLimits, WebChatChannel
from desk import UnitOfWork, make_engine, migrate, session_factory
from desk.access_models import ChatSession
from desk.models import RateCounter, VerificationCode
from loopback import free_port

# Far above what any test here asks for, but for the tests of the limits themselves.
ROOMY = SignInLimits(sessions_per_ip=1000, sessions=1000, codes_per_ip=1000, codes=1000, failed_codes_per_ip=1000)
ROOMY_VERIFICATION = VerificationLimits(codes_per_address=1000, codes_per_identity=1000, failed_codes_per_address=1000,
                                        failed_codes_per_identity=1000)


@pytest.fixture(scope="module")
def desk_uow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnitOfWork]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('webchat') / 'desk.db'}")
    migrate.upgrade(engine)
    yield UnitOfWork(session_factory(engine))
    engine.dispose()


@pytest.fixture
def limiter(desk_uow: UnitOfWork) -> DeskRateLimiter:
    with desk_uow() as session:  # every test starts with no sign-in counted, no code pending and no session
        session.query(RateCounter).delete()
        session.query(VerificationCode).delete()
        session.query(ChatSession).delete()
    return DeskRateLimiter(desk_uow)


class Harness:
    """A WebChatChannel mounted on a FastAPI app, served by uvicorn in a background thread."""

    def __init__(self, limiter: DeskRateLimiter, *, start: bool = True, **options: Any) -> None:
        self.codes: list[tuple[str, str]] = []
        self.calls: list[InboundMessage] = []  # every on_message call
        self.committed: dict[str, InboundMessage] = {}
        self.fail_inbox = False
        self.gate: threading.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's loop, seen by on_message
        self.clients: list[httpx.Client] = []
        options.setdefault("keepalive_interval", 0.5)
        options.setdefault("limits", ROOMY)
        code_ttl = options.pop("code_ttl", 600)
        self.verifier = ChatVerification(
            uow=limiter.uow, send_code=options.pop("send_code", self.send_code),
            allowed_domains=options.pop("allowed_domains", ("example.com",)),
            limits=options.pop("verification", ROOMY_VERIFICATION), code_ttl=dt.timedelta(seconds=code_ttl))
        self.sessions = DeskChatSessions(
            uow=limiter.uow, idle=dt.timedelta(seconds=options.pop("session_idle", 3600)),
            lifetime=dt.timedelta(seconds=options.pop("session_lifetime", 3600)), keep=options.pop("buffer_size", 200))
        self.channel = WebChatChannel(limiter=limiter, verifier=self.verifier, sessions=self.sessions, **options)
        app = FastAPI()
        app.include_router(self.channel.router())
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.base = f"{self.url}/chat"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        if start:
            asyncio.run(self.channel.start(self.on_message))

    async def send_code(self, email: str, code: str) -> None:
        self.codes.append((email, code))

    async def on_message(self, message: InboundMessage) -> bool:
        self.loop = asyncio.get_running_loop()
        self.calls.append(message)
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait, 10)
        if self.fail_inbox:
            raise RuntimeError("the inbox database is down")
        if message.key in self.committed:
            return False
        self.committed[message.key] = message
        return True

    def client(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=5, **kwargs)
        self.clients.append(client)
        return client

    def session(self) -> httpx.Client:
        client = self.client()
        response = client.post("/api/session")
        assert response.status_code == 200, response.text
        return client

    def verified(self, email: str = "ann@example.com") -> httpx.Client:
        client = self.session()
        assert client.post("/api/verify/start", json={"email": email}).status_code == 200
        sent_to, code = self.codes[-1]
        assert sent_to == email
        response = client.post("/api/verify/confirm", json={"code": code})
        assert response.status_code == 200, response.text
        return client

    def address_of(self, client: httpx.Client) -> str:
        """The conversation address of a verified client, learnt as the bot learns it: from a message."""
        response = client.post("/api/messages", json={"id": str(uuid.uuid4()), "text": "hello"})
        assert response.status_code == 202, response.text
        return self.calls[-1].conversation.address

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Await on another loop in this thread, like a dispatcher running apart from the HTTP server."""
        return asyncio.run(coroutine)

    def run_on_server_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(5)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        asyncio.run(self.channel.stop())
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def chat(limiter: DeskRateLimiter) -> Iterator[Harness]:
    harness = Harness(limiter)
    yield harness
    harness.close()


def sse(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The events of a text/event-stream response, comments as {"comment": ...}."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def replies(events: Iterator[dict[str, str]], count: int, timeout: float = 5) -> list[tuple[int, dict[str, Any]]]:
    """The next ``count`` replies, as (event id, data); keep-alives do not make it wait forever."""
    found: list[tuple[int, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    for event in events:
        assert time.monotonic() < deadline, f"only {len(found)} of {count} replies arrived: {found}"
        if "data" in event:
            found.append((int(event["id"]), json.loads(event["data"])))
            if len(found) == count:
                break
    return found


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- the page and sessions ---------------------------------------------------------------------


def test_the_page_is_one_self_contained_document(chat: Harness) -> None:
    response = chat.client().get(chat.base)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for needle in ('id="email"', 'autocomplete="one-time-code"', 'role="log"', "EventSource", 'data-base="/chat"'):
        assert needle in page
    assert "<script src" not in page and 'rel="stylesheet"' not in page and "//cdn" not in page
    assert 'src="http' not in page and 'href="http' not in page  # nothing loaded from elsewhere
    policy = response.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page and "default-src 'none'" in policy


def test_every_api_call_needs_a_known_session(chat: Harness) -> None:
    with chat.client() as anonymous:
        for method, path in [("GET", "/api/session"), ("POST", "/api/verify/start"), ("POST", "/api/verify/confirm"),
                             ("POST", "/api/messages"), ("GET", "/api/events")]:
            response = anonymous.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 401, (path, response.text)
            assert "session" in response.json()["error"]
        assert anonymous.get("/api/session", headers={"X-Chat-Session": "made-up"}).status_code == 401


def test_a_session_is_a_random_token_in_an_httponly_strict_cookie(chat: Harness) -> None:
    with chat.client() as browser:
        response = browser.post("/api/session")
        token = response.json()["session"]
        assert len(token) >= 43  # 32 random bytes, urlsafe base64
        cookie = response.headers["set-cookie"]
        assert f"{COOKIE_NAME}={token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/chat" in cookie
        assert browser.get("/api/session").json() == {"verified": False, "email": None}
    with chat.client(headers={"X-Chat-Session": token}) as header_only:
        assert header_only.get("/api/session").status_code == 200


# --- verification -------------------------------------------------------------------------------


def test_full_verify_flow(chat: Harness) -> None:
    browser = chat.session()
    old_token = browser.cookies[COOKIE_NAME]
    bad = browser.post("/api/verify/start", json={"email": "not an address"})
    assert bad.status_code == 422 and "valid work email" in bad.json()["error"]
    elsewhere = browser.post("/api/verify/start", json={"email": "ann@gmail.com"})
    assert elsewhere.status_code == 422 and "example.com" in elsewhere.json()["error"]
    assert chat.codes == []

    started = browser.post("/api/verify/start", json={"email": "  Ann@Example.COM "})
    assert started.status_code == 200
    assert started.json()["email"] == "ann@example.com" and started.json()["expires_in"] == 600
    (email, code), = chat.codes
    assert email == "ann@example.com" and code.isdigit() and len(code) == 6
    assert browser.post("/api/messages", json={"id": "m1", "text": "hi"}).status_code == 403
    assert browser.post("/api/verify/confirm", json={"code": "12a456"}).status_code == 422

    confirmed = browser.post("/api/verify/confirm", json={"code": f" {code[:3]} {code[3:]} "})
    assert confirmed.status_code == 200
    body = confirmed.json()
    assert body["verified"] is True and body["email"] == "ann@example.com"
    # the token changes on verification: a token seen before it is worth nothing now
    assert body["session"] != old_token and browser.cookies[COOKIE_NAME] == body["session"]
    with chat.client(headers={"X-Chat-Session": old_token}) as stale:
        assert stale.get("/api/session").status_code == 401
    assert browser.get("/api/session").json() == {"verified": True, "email": "ann@example.com"}
    assert browser.post("/api/verify/start", json={"email": "bob@example.com"}).status_code == 409
    assert browser.post("/api/messages", json={"id": "m1", "text": "hi"}).status_code == 202


def test_wrong_codes_count_down_and_then_a_new_code_is_needed(chat: Harness) -> None:
    browser = chat.session()
    browser.post("/api/verify/start", json={"email": "ann@example.com"})
    code = chat.codes[-1][1]
    for left in (4, 3, 2, 1):
        wrong = browser.post("/api/verify/confirm", json={"code": other_code(code)})
        assert wrong.status_code == 400
        assert wrong.json()["attempts_left"] == left and wrong.json()["restart"] is False
        assert f"{left} attempt" in wrong.json()["error"]
    last = browser.post("/api/verify/confirm", json={"code": other_code(code)})
    assert last.status_code == 400 and last.json() == {**last.json(), "attempts_left": 0, "restart": True}
    # the right code is worthless now: the visitor must start again
    gone = browser.post("/api/verify/confirm", json={"code": code})
    assert gone.status_code == 409 and gone.json()["restart"] is True
    assert browser.get("/api/session").json()["verified"] is False

    browser.post("/api/verify/start", json={"email": "ann@example.com"})
    assert browser.post("/api/verify/confirm", json={"code": chat.codes[-1][1]}).status_code == 200


def test_an_expired_code_is_refused(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, code_ttl=0.3)
    try:
        browser = chat.session()
        browser.post("/api/verify/start", json={"email": "ann@example.com"})
        time.sleep(0.4)
        expired = browser.post("/api/verify/confirm", json={"code": chat.codes[-1][1]})
        assert expired.status_code == 410 and expired.json()["restart"] is True
        assert browser.post("/api/verify/confirm", json={"code": chat.codes[-1][1]}).status_code == 409
        assert browser.get("/api/session").json()["verified"] is False
    finally:
        chat.close()


def test_no_more_than_three_codes_per_session(chat: Harness) -> None:
    browser = chat.session()
    for left in (2, 1, 0):
        response = browser.post("/api/verify/start", json={"email": "ann@example.com"})
        assert response.status_code == 200 and response.json()["codes_left"] == left
    refused = browser.post("/api/verify/start", json={"email": "ann@example.com"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 500
    assert len(chat.codes) == 3
    # only the newest code is good
    first, newest = chat.codes[0][1], chat.codes[-1][1]
    if first != newest:  # one chance in a million that they are the same
        assert browser.post("/api/verify/confirm", json={"code": first}).status_code == 400
    assert browser.post("/api/verify/confirm", json={"code": newest}).status_code == 200
    assert browser.get("/api/session").json()["verified"] is True


# --- messages -----------------------------------------------------------------------------------


def test_a_message_becomes_an_inbound_message(chat: Harness) -> None:
    browser = chat.verified("ann@example.com")
    token = browser.cookies[COOKIE_NAME]
    client_id = str(uuid.uuid4())
    body = {"id": client_id, "text": "  My VPN keeps dropping\nsince this morning  "}
    response = browser.post("/api/messages", json=body)
    assert response.status_code == 202 and response.json() == {"accepted": True, "duplicate": False}

    (message,) = chat.calls
    prefix, _, id_part = message.key.split(":")
    assert (prefix, id_part) == ("webchat", client_id) and token not in message.key
    assert message.conversation.channel == "webchat" and message.conversation.thread == ""
    assert message.conversation.address and token not in message.conversation.address
    assert message.sender.channel == "webchat" and message.sender.external_id == "webchat:ann@example.com"
    assert message.sender.email == "ann@example.com" and message.sender.email_verified is True
    assert message.sender.display_name == "ann@example.com"
    assert message.text == "My VPN keeps dropping\nsince this morning" and message.action is None
    assert message.received_at.tzinfo is not None
    assert abs(message.received_at - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    assert json.loads(message.raw) == body
    assert InboundMessage.from_json(message.to_json()) == message

    # the same conversation for the session's next message, another one for another visitor
    browser.post("/api/messages", json={"id": str(uuid.uuid4()), "text": "still down"})
    assert chat.calls[-1].conversation == message.conversation
    bob = chat.verified("bob@example.com")
    assert chat.address_of(bob) != message.conversation.address


def test_a_repeated_client_id_gives_the_same_key_and_the_inbox_decides(chat: Harness) -> None:
    browser = chat.verified()
    body = {"id": "7b0c5e0e-3a1b-4a55-9d55-2f7b8f9a0c11", "text": "printer on floor 3 jams"}
    first = browser.post("/api/messages", json=body)
    again = browser.post("/api/messages", json=body)
    assert first.json() == {"accepted": True, "duplicate": False}
    assert again.status_code == 202 and again.json() == {"accepted": True, "duplicate": True}
    assert len(chat.calls) == 2 and chat.calls[0].key == chat.calls[1].key
    assert len(chat.committed) == 1


def test_the_answer_waits_for_the_inbox_commit(chat: Harness) -> None:
    browser = chat.verified()
    chat.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(browser.post, "/api/messages", json={"id": "a1", "text": "laptop will not start"})
        deadline = time.monotonic() + 5
        while not chat.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(chat.calls) == 1
        time.sleep(0.3)
        assert not pending.done(), "answered before on_message returned"
        assert chat.committed == {}
        chat.gate.set()
        response = pending.result(5)
    assert response.status_code == 202 and len(chat.committed) == 1


def test_an_inbox_failure_is_a_503_and_nothing_is_acknowledged(chat: Harness) -> None:
    browser = chat.verified()
    chat.fail_inbox = True
    body = {"id": "b2", "text": "outlook crashes"}
    failed = browser.post("/api/messages", json=body)
    assert failed.status_code == 503 and "send it again" in failed.json()["error"]
    assert "accepted" not in failed.json()
    chat.fail_inbox = False
    retried = browser.post("/api/messages", json=body)
    assert retried.status_code == 202 and retried.json()["duplicate"] is False


def test_invalid_messages_are_422(chat: Harness) -> None:
    browser = chat.verified()
    bad = [
        {"id": "c1", "text": "   \n\t "},
        {"id": "c2", "text": "x" * 4001},
        {"id": "c3"},
        {"text": "no id"},
        {"id": "", "text": "empty id"},
        {"id": "x" * 65, "text": "id too long"},
        {"id": "has space", "text": "bad id"},
        {"id": "c4", "text": "both", "action": "yes"},
        {"id": "c5", "action": "yes"},  # no button offered that
        {"id": "c6", "text": 42},
    ]
    for body in bad:
        response = browser.post("/api/messages", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]
    assert browser.post("/api/messages", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    assert browser.post("/api/messages", json=["id", "text"]).status_code == 422
    assert browser.post("/api/messages", json={"id": "c7", "text": "y" * 70_000}).status_code == 413
    assert chat.calls == []
    ok = browser.post("/api/messages", json={"id": "c8", "text": "  " + "z" * 4000 + "  "})
    assert ok.status_code == 202 and chat.calls[-1].text == "z" * 4000


def test_an_unverified_visitor_can_neither_write_nor_read(chat: Harness) -> None:
    ann = chat.verified("ann@example.com")
    ann_address = chat.address_of(ann)
    visitor = chat.session()
    visitor.post("/api/verify/start", json={"email": "ann@example.com"})  # a code went to Ann, not to the visitor
    assert visitor.post("/api/messages", json={"id": "d1", "text": "show me Ann's tickets"}).status_code == 403
    assert visitor.get("/api/events").status_code == 403
    # a conversation address is no credential
    with chat.client(headers={"X-Chat-Session": ann_address}) as guesser:
        assert guesser.get("/api/events").status_code == 401
    assert len(chat.calls) == 1


# --- replies over Server-Sent Events ------------------------------------------------------------


def test_send_reaches_the_stream_with_buttons_and_a_click_comes_back(chat: Harness) -> None:
    browser = chat.verified()
    address = chat.address_of(browser)
    reply = Reply(
        text="Try this:\n1. Open GlobalProtect",
        buttons=(Button("Yes, solved", "yes"), Button("No", "no")),
        ticket_ref="#1042",
        articles=(ArticleLink("KB-0006", "Connect to the VPN", "https://kb.example.com/KB-0006"),),
    )
    with browser.stream("GET", "/api/events") as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        events = sse(stream)
        assert next(events) == {"retry": "3000"}
        chat.run_on_server_loop(chat.channel.send(ConversationRef("webchat", address), reply))
        ((event_id, data),) = replies(events, 1)
    assert event_id == 1
    assert data == {  # the text is Markdown: the page shows the HTML rendered from it, "text" is its plain form
        "text": "Try this:\n\n1. Open GlobalProtect",
        "html": "<p>Try this:</p><ol><li>Open GlobalProtect</li></ol>",
        "buttons": [{"label": "Yes, solved", "value": "yes"}, {"label": "No", "value": "no"}],
        "ticket_ref": "#1042",
        "articles": [{"article_id": "KB-0006", "title": "Connect to the VPN", "url": "https://kb.example.com/KB-0006"}],
    }
    clicked = browser.post("/api/messages", json={"id": "e1", "action": "yes"})
    assert clicked.status_code == 202
    assert chat.calls[-1].action == "yes" and chat.calls[-1].text == "Yes, solved"
    assert json.loads(chat.calls[-1].raw) == {"id": "e1", "action": "yes"}


def test_replies_go_only_to_their_own_conversation(chat: Harness) -> None:
    ann, bob = chat.verified("ann@example.com"), chat.verified("bob@example.com")
    ann_address, bob_address = chat.address_of(ann), chat.address_of(bob)
    with bob.stream("GET", "/api/events") as stream:
        events = sse(stream)
        chat.run(chat.channel.send(ConversationRef("webchat", ann_address), Reply("for Ann: ticket #1001", ticket_ref="#1001")))
        chat.run(chat.channel.send(ConversationRef("webchat", bob_address), Reply("for Bob")))
        ((_, data),) = replies(events, 1)
    assert data["text"] == "for Bob"
    with ann.stream("GET", "/api/events") as stream:
        ((_, data),) = replies(sse(stream), 1)
    assert data["text"] == "for Ann: ticket #1001"


def test_buffered_replies_arrive_on_connect_and_last_event_id_resumes(chat: Harness) -> None:
    browser = chat.verified()
    ref = ConversationRef("webchat", chat.address_of(browser))
    for n in (1, 2, 3):
        chat.run(chat.channel.send(ref, Reply(f"reply {n}")))
    with browser.stream("GET", "/api/events") as stream:
        got = replies(sse(stream), 3)
    assert [(i, d["text"]) for i, d in got] == [(1, "reply 1"), (2, "reply 2"), (3, "reply 3")]

    for n in (4, 5):
        chat.run(chat.channel.send(ref, Reply(f"reply {n}")))
    with browser.stream("GET", "/api/events") as stream:  # a new stream (a new tab) gets all that is buffered
        assert [i for i, _ in replies(sse(stream), 5)] == [1, 2, 3, 4, 5]
    with browser.stream("GET", "/api/events", headers={"Last-Event-ID": "2"}) as stream:  # EventSource reconnecting
        assert [i for i, _ in replies(sse(stream), 3)] == [3, 4, 5]
    with browser.stream("GET", "/api/events", params={"last_event_id": "4"}) as stream:  # the page after a reload
        assert [i for i, _ in replies(sse(stream), 1)] == [5]


def test_the_buffer_keeps_the_last_replies_only(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, buffer_size=3)
    try:
        browser = chat.verified()
        ref = ConversationRef("webchat", chat.address_of(browser))
        for n in range(1, 6):
            chat.run(chat.channel.send(ref, Reply(f"reply {n}")))
        with browser.stream("GET", "/api/events", headers={"Last-Event-ID": "0"}) as stream:
            assert [d["text"] for _, d in replies(sse(stream), 3)] == ["reply 3", "reply 4", "reply 5"]
    finally:
        chat.close()


def test_keep_alive_and_disconnect(chat: Harness) -> None:
    browser = chat.verified()
    with browser.stream("GET", "/api/events") as stream:
        events = sse(stream)
        assert next(events) == {"retry": "3000"}
        assert next(events) == {"comment": "keep-alive"}  # every keepalive_interval (0.5 s here, 15 s by default)
        assert chat.channel.open_streams == 1
    deadline = time.monotonic() + 5
    while chat.channel.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert chat.channel.open_streams == 0, "the stream did not end when the client went away"


def test_send_to_an_unknown_conversation_raises_send_error(chat: Harness) -> None:
    with pytest.raises(SendError):
        chat.run(chat.channel.send(ConversationRef("webchat", "wc-nobody"), Reply("hello?")))
    browser = chat.verified()
    address = chat.address_of(browser)
    with pytest.raises(SendError):
        chat.run(chat.channel.send(ConversationRef("telegram", address), Reply("wrong channel")))


# --- start and stop -----------------------------------------------------------------------------


def test_messages_before_start_are_503(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, start=False)
    try:
        browser = chat.verified()
        response = browser.post("/api/messages", json={"id": "f1", "text": "anyone there?"})
        assert response.status_code == 503 and response.json()["error"]
        assert chat.calls == []
    finally:
        chat.close()


def test_stop_ends_the_streams_and_refuses_messages(chat: Harness) -> None:
    browser = chat.verified()
    address = chat.address_of(browser)
    with browser.stream("GET", "/api/events") as stream:
        events = sse(stream)
        assert next(events) == {"retry": "3000"}
        with ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(chat.run, chat.channel.stop())
            rest = [e for e in events if "data" in e]  # ends: the server closed the stream
            stopping.result(5)
    assert rest == [] and chat.channel.open_streams == 0
    refused = browser.post("/api/messages", json={"id": "g1", "text": "hello"})
    assert refused.status_code == 503 and refused.json()["retry"] is True
    assert browser.get("/api/events").status_code == 503
    with pytest.raises(SendError):
        chat.run(chat.channel.send(ConversationRef("webchat", address), Reply("too late")))


# --- sign-in limits, streams, lifetime ------------------------------------------------------------


def _limits(**tight: int) -> SignInLimits:
    return SignInLimits(**{**{f: getattr(ROOMY, f) for f in ROOMY.__dataclass_fields__ if f != "window"}, **tight})


def _verification(**tight: int) -> VerificationLimits:
    return dataclasses.replace(ROOMY_VERIFICATION, **tight)


def test_new_sessions_per_client_are_limited_with_retry_after(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, limits=_limits(sessions_per_ip=2))
    try:
        with chat.client() as browser:
            assert [browser.post("/api/session").status_code for _ in range(2)] == [200, 200]
            refused = browser.post("/api/session")
        assert refused.status_code == 429 and "too many new chats" in refused.json()["error"]
        assert 0 < int(refused.headers["retry-after"]) <= 3600 and "set-cookie" not in refused.headers
    finally:
        chat.close()


def test_wrong_codes_per_address_are_limited_across_sessions(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, verification=_verification(failed_codes_per_address=3))
    try:
        first, second = chat.session(), chat.session()
        first.post("/api/verify/start", json={"email": "ann@example.com"})
        assert [first.post("/api/verify/confirm", json={"code": other_code(chat.codes[-1][1])}).status_code
                for _ in range(2)] == [400, 400]
        second.post("/api/verify/start", json={"email": "ann@example.com"})
        good = chat.codes[-1][1]
        assert second.post("/api/verify/confirm", json={"code": other_code(good)}).status_code == 400
        refused = second.post("/api/verify/confirm", json={"code": good})  # even the right code: no more guessing
        assert refused.status_code == 429 and "too many wrong codes" in refused.json()["error"]
        assert int(refused.headers["retry-after"]) > 0
        assert second.get("/api/session").json()["verified"] is False
        # another address from the same client is not blocked by Ann's count
        third = chat.session()
        third.post("/api/verify/start", json={"email": "bob@example.com"})
        assert third.post("/api/verify/confirm", json={"code": chat.codes[-1][1]}).status_code == 200
    finally:
        chat.close()


def test_code_requests_per_address_are_limited_across_sessions(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, verification=_verification(codes_per_address=2))
    try:
        for _ in range(2):
            assert chat.session().post("/api/verify/start", json={"email": "ann@example.com"}).status_code == 200
        refused = chat.session().post("/api/verify/start", json={"email": "ann@example.com"})
        assert refused.status_code == 429 and "too many codes" in refused.json()["error"]
        assert len(chat.codes) == 2
    finally:
        chat.close()


def test_no_way_to_send_codes_means_no_sign_in(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, send_code=None)
    try:
        refused = chat.session().post("/api/verify/start", json={"email": "ann@example.com"})
        assert refused.status_code == 503
        assert refused.json()["error"] == "sign-in by email is not set up on this desk"
    finally:
        chat.close()


def test_a_session_has_a_cap_on_open_streams(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, max_streams=2)
    try:
        browser = chat.verified()
        with browser.stream("GET", "/api/events") as one, browser.stream("GET", "/api/events") as two:
            events = sse(one), sse(two)  # kept: a dropped iterator closes its connection
            assert [next(e) for e in events] == [{"retry": "3000"}] * 2
            refused = browser.get("/api/events")
            assert refused.status_code == 429 and "at most 2" in refused.json()["error"]
        deadline = time.monotonic() + 5
        while chat.channel.open_streams and time.monotonic() < deadline:
            time.sleep(0.02)
        with browser.stream("GET", "/api/events") as again:  # closing one makes room
            assert again.status_code == 200
    finally:
        chat.close()


def test_a_session_ends_after_its_lifetime_however_active(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, session_lifetime=3)
    try:
        browser = chat.client()
        created = browser.post("/api/session")
        started = time.monotonic()
        assert "Max-Age=3;" in created.headers["set-cookie"]  # the browser forgets it too
        browser.post("/api/verify/start", json={"email": "ann@example.com"})
        assert browser.post("/api/verify/confirm", json={"code": chat.codes[-1][1]}).status_code == 200
        address = chat.address_of(browser)
        while time.monotonic() < started + 1.5:  # in use all the time
            assert browser.get("/api/session").status_code == 200
            time.sleep(0.1)
        token = browser.cookies[COOKIE_NAME]
        time.sleep(max(0.0, started + 3.2 - time.monotonic()))
        # The browser drops the cookie at its Max-Age; a client that kept the token still hears why it ended.
        with chat.client(headers={"X-Chat-Session": token}) as kept:
            ended = kept.post("/api/messages", json={"id": "h1", "text": "still there?"})
        assert ended.status_code == 401 and ended.json()["restart"] is True
        assert ended.json()["error"] == "this chat session has ended (a chat lasts at most 3 seconds): please sign in again"
        with pytest.raises(SendError):
            chat.run(chat.channel.send(ConversationRef("webchat", address), Reply("too late")))
    finally:
        chat.close()


def test_an_idle_session_ends_with_a_message_that_says_so(limiter: DeskRateLimiter) -> None:
    chat = Harness(limiter, session_idle=1)
    try:
        browser = chat.verified()
        for _ in range(4):  # in use: it does not idle out
            time.sleep(0.4)
            assert browser.get("/api/session").status_code == 200
        time.sleep(1.3)
        ended = browser.get("/api/session")
        assert ended.status_code == 401 and ended.json()["restart"] is True and ended.json()["ended"] == "idle"
        assert ended.json()["error"] == "this chat session has expired after a while without use: please sign in again"
        again = browser.get("/api/session")  # every request of it hears why, until the housekeeping purges it
        assert again.status_code == 401 and again.json()["ended"] == "idle"
    finally:
        chat.close()


def test_a_file_becomes_an_attachment_of_the_message(chat: Harness) -> None:
    browser = chat.verified()
    sent = browser.post("/api/files", params={"id": "f1", "name": "C:\\Users\\ann\\screen shot.png"},
                        content=b"\x89PNG...", headers={"Content-Type": "image/png"})
    assert sent.status_code == 202 and sent.json() == {"accepted": True, "duplicate": False, "file": "screen shot.png"}
    message = chat.calls[-1]
    assert message.text == "" and message.key.endswith(":f1") and message.sender.email == "ann@example.com"
    assert [(a.filename, a.content_type, a.content) for a in message.attachments] == [
        ("screen shot.png", "image/png", b"\x89PNG...")]
    assert InboundMessage.from_json(message.to_json()) == message
    for params, content in (({"id": "f2"}, b"x"), ({"id": "f3", "name": "empty.txt"}, b""),
                            ({"name": "no-id.txt"}, b"x")):
        refused = browser.post("/api/files", params=params, content=content)
        assert refused.status_code == 422 and refused.json()["error"], refused.text
    assert len(chat.calls) == 1
    assert chat.session().post("/api/files", params={"id": "f4", "name": "a.txt"}, content=b"x").status_code == 403
