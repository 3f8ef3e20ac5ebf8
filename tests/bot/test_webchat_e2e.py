"""End to end through the web chat: a browser's HTTP calls -> the real service loops -> the desk.

The service as ``deskbot serve`` builds and runs it (HTTP app, web chat, worker, dispatcher)
on a real uvicorn server on loopback, with the plumbing NLP; SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest
from webchat_browser import Browser, CodeLog

from bot.composition import Deskbot
from desk import ResolutionCode, Status, TicketType, kpis, tickets


@pytest.fixture
def service(desk_settings, serving, analyzer):  # noqa: ANN001, ANN201
    log, logger = CodeLog(), logging.getLogger("deskbot.verification")
    logger.addHandler(log)
    limits = {f"webchat_{name}": 100 for name in (
        "sessions_per_ip_per_hour", "sessions_per_hour", "codes_per_ip_per_hour", "codes_per_hour",
        "failed_codes_per_ip_per_hour")}
    limits |= {f"verification_{name}": 100 for name in (
        "codes_per_address_per_hour", "codes_per_identity_per_hour", "failed_codes_per_address_per_hour",
        "failed_codes_per_identity_per_hour")}
    settings = desk_settings(email_enabled=False, webchat_allowed_domains=["corp.example"], **limits)
    try:
        with serving(Deskbot(settings, analyzer=analyzer)) as running:
            yield running.url, log.codes
    finally:
        logger.removeHandler(log)


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
