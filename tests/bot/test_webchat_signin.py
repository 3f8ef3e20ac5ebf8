"""Web chat sign-in as ``deskbot serve`` wires it: allowed domains, limits kept in the desk, no code without a relay.

The service comes from ``build_service`` (settings -> composition), served by uvicorn on loopback;
codes go through the real email channel to an SMTP sink on loopback, or to the log where that is allowed.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from bot.composition import Deskbot, channel_states
from smtp_sink import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    relay = Sink()
    yield relay
    relay.close()


@pytest.fixture
def served(serving):  # noqa: ANN001, ANN201
    """``with served(deskbot) as chat:`` the service of ``deskbot`` on a real server; a client for its /chat."""
    @contextmanager
    def serve(deskbot: Deskbot) -> Iterator[httpx.Client]:
        with serving(deskbot) as running, httpx.Client(base_url=f"{running.url}/chat", timeout=10) as client:
            yield client
    return serve


@pytest.fixture
def desk(desk_settings, analyzer):  # noqa: ANN001, ANN201
    """``desk(**settings)``: a ``Deskbot`` on the test database."""
    return lambda **settings: Deskbot(desk_settings(**settings), analyzer=analyzer)


def _code_request(chat: httpx.Client, email: str) -> httpx.Response:
    """A new browser session asking for a code (its token in the header: behind an https public URL the cookie is
    Secure, and these clients speak plain http to the server on loopback)."""
    chat.cookies.clear()
    created = chat.post("/api/session")
    if created.status_code != 200:
        return created
    return chat.post("/api/verify/start", json={"email": email}, headers={"X-Chat-Session": created.json()["session"]})


def test_a_code_goes_only_to_the_desks_own_domains(served, desk, sink: Sink) -> None:
    deskbot = desk(email_addresses=["support@corp.example"], smtp_relay_host="127.0.0.1",
                       smtp_relay_port=sink.port)
    assert deskbot.settings.webchat_allowed_domains == ["corp.example"]  # by default, the domains of its addresses
    with served(deskbot) as chat:
        for foreign in ("ann@gmail.com", "ann@corp.example.evil.com", "ann@sub.corp.example"):
            refused = _code_request(chat, foreign)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"] == "only addresses at corp.example can sign in here"
        assert _code_request(chat, "ann@corp.example").status_code == 200
        deadline = time.monotonic() + 10
        while not sink.mails and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # room for a stray mail to arrive
    assert [m["To"] for m in sink.mails] == ["ann@corp.example"]  # nothing went to the foreign addresses


def test_limits_hold_across_two_processes_and_a_restart(served, desk, caplog: pytest.LogCaptureFixture) -> None:
    tight = {"verification_codes_per_address_per_hour": 2, "webchat_sessions_per_ip_per_hour": 4,
             "webchat_allowed_domains": ["corp.example"]}
    with caplog.at_level("WARNING", logger="deskbot.verification"):
        with served(desk(**tight)) as first, served(desk(**tight)) as second:
            assert _code_request(first, "ann@corp.example").status_code == 200
            assert _code_request(second, "ann@corp.example").status_code == 200
            refused = _code_request(first, "ann@corp.example")  # the third session of this client
            assert refused.status_code == 429 and "too many codes requested" in refused.json()["error"]
            assert 0 < int(refused.headers["retry-after"]) <= 3600
        with served(desk(**tight)) as restarted:
            again = _code_request(restarted, "ann@corp.example")  # the fourth session
            assert again.status_code == 429 and "too many codes requested" in again.json()["error"]
            assert _code_request(restarted, "bob@corp.example").status_code == 429  # the fifth session
            assert "too many new chats" in restarted.post("/api/session").json()["error"]
    assert len(re.findall(r"verification code for ann@corp\.example: \d{6}", caplog.text)) == 2


def test_without_a_relay_sign_in_is_refused_unless_only_this_machine_can_reach_it(
        served, desk, caplog: pytest.LogCaptureFixture) -> None:
    public = {"public_url": "https://desk.corp.example", "webchat_allowed_domains": ["corp.example"]}
    refused_desk = desk(**public)
    [state] = [s for s in channel_states(refused_desk.settings) if s.name == "Web chat"]
    assert "sign-in is refused: no mail relay" in state.reason
    with caplog.at_level("DEBUG"), served(refused_desk) as chat:
        refused = _code_request(chat, "ann@corp.example")
        assert refused.status_code == 503
        assert refused.json()["error"] == "sign-in by email is not set up on this desk"
    assert "verification code" not in caplog.text  # no code in the log

    dev_desk = desk(dev_mode=True, **public)
    assert "because DESKBOT_DEV_MODE is on" in str(channel_states(dev_desk.settings)[0])
    caplog.clear()
    with caplog.at_level("WARNING", logger="deskbot.verification"), served(dev_desk) as chat:
        assert _code_request(chat, "ann@corp.example").status_code == 200
    assert re.search(r"verification code for ann@corp\.example: \d{6}", caplog.text)

    embedded = desk(webchat_allowed_domains=["corp.example"])  # public URL http://127.0.0.1:8080
    assert "because the public URL is loopback-only" in str(channel_states(embedded.settings)[0])
    embedded.close()
