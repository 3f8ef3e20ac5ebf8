"""End to end through the web chat: a browser's HTTP calls -> the real service loops -> the desk.

The same ``run_service`` that ``deskbot serve`` runs (HTTP app, web chat, worker, dispatcher)
on a real uvicorn server on loopback, with the real packaged model; SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bot.composition import DeskRateLimiter
from bot.notify import LogNotifier
from bot.pipeline import BotSettings, Pipeline
from bot.runtime import run_service
from bot.verification import ChatVerification, VerificationLimits
from channels.webchat import SignInLimits, WebChatChannel
from desk import ResolutionCode, Status, TicketType, kpis, tickets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def service(uow, analyzer):  # noqa: ANN001, ANN201
    codes: list[tuple[str, str]] = []

    async def send_code(email: str, code: str) -> None:  # an email would leave the machine here
        codes.append((email, code))

    limits = SignInLimits(sessions_per_ip=100, sessions=100, codes_per_ip=100, codes=100, failed_codes_per_ip=100)
    verifier = ChatVerification(uow=uow, send_code=send_code, allowed_domains=("corp.example",),
                                limits=VerificationLimits(codes_per_address=100, codes_per_identity=100,
                                                          failed_codes_per_address=100, failed_codes_per_identity=100))
    webchat = WebChatChannel(verifier=verifier, limiter=DeskRateLimiter(uow), limits=limits)
    app = FastAPI()
    app.include_router(webchat.router())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    pipeline = Pipeline(uow=uow, analyzer=analyzer, notifier=LogNotifier(), settings=BotSettings.defaults(), worker="e2e")
    thread = threading.Thread(target=lambda: asyncio.run(run_service(server, pipeline, {"webchat": webchat})))
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", codes
    server.should_exit = True
    thread.join(30)


class Browser:
    """What the chat page does: a session, the one-time code, messages, and the event stream."""

    def __init__(self, base: str, codes: list[tuple[str, str]], email: str):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.http.post("/chat/api/session").raise_for_status()
        self.http.post("/chat/api/verify/start", json={"email": email}).raise_for_status()
        code = next(c for e, c in reversed(codes) if e == email)
        self.http.post("/chat/api/verify/confirm", json={"code": code}).raise_for_status()
        self.seen = 0

    def say(self, text: str | None = None, action: str | None = None, replies: int = 1) -> list[dict]:
        body = {"id": str(uuid.uuid4()), **({"text": text} if text else {}), **({"action": action} if action else {})}
        response = self.http.post("/chat/api/messages", json=body)
        assert response.status_code == 202, response.text
        got: list[dict] = []
        with self.http.stream("GET", "/chat/api/events", headers={"Last-Event-ID": str(self.seen)}) as stream:
            for line in stream.iter_lines():
                if line.startswith("id:"):
                    self.seen = int(line[3:].strip())
                elif line.startswith("data:"):
                    got.append(json.loads(line[5:]))
                    if len(got) == replies:
                        break
        return got


def test_password_question_answered_then_yes_closes_it(service, uow) -> None:  # noqa: ANN001
    base, codes = service
    ana = Browser(base, codes, "ana@corp.example")
    [answer] = ana.say("I forgot my password, how do I reset it?")
    assert answer["articles"][0]["article_id"] == "KB-0001"
    assert [b["value"] for b in answer["buttons"]] == ["yes", "no"]
    [closing] = ana.say(action="yes")
    assert "glad" in closing["text"]
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s, statuses=None)
        assert (ticket.status, ticket.resolution_code) == (Status.RESOLVED, ResolutionCode.SELF_SERVICE)
        assert kpis.compute(session=s).self_service_rate.numerator == 1


def test_no_then_a_request_then_any_news(service, uow) -> None:  # noqa: ANN001
    base, codes = service
    bo = Browser(base, codes, "bo@corp.example")
    bo.say("I forgot my password")
    [handed] = bo.say(action="no")
    assert handed["ticket_ref"] and "with the article you tried" in handed["text"]

    other = Browser(base, codes, "bo@corp.example")  # a second chat of the same verified person
    [request] = other.say("Could I get access to the Marketing shared drive please?")
    assert request["ticket_ref"] and "expect a first answer by" in request["text"]
    [news] = Browser(base, codes, "bo@corp.example").say("any news on my tickets?")
    assert handed["ticket_ref"] in news["text"] and request["ticket_ref"] in news["text"]
    with uow() as s:
        request_ticket = tickets.get_ticket(session=s, number=int(request["ticket_ref"].lstrip("#")))
        assert request_ticket.type is TicketType.SERVICE_REQUEST and request_ticket.group.name == "Identity & Access"


def test_a_frustrated_message_gets_a_person_and_raised_urgency(service, uow) -> None:  # noqa: ANN001
    base, codes = service
    [reply] = Browser(base, codes, "cy@corp.example").say(
        "This is the THIRD time I write: my VPN still drops every 10 minutes, unacceptable!!!")
    assert reply["ticket_ref"] and not reply["buttons"]
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=int(reply["ticket_ref"].lstrip("#")))
        assert ticket.urgency == 1  # vpn_connection defaults to 2; frustration raised it
