"""The tickets API over real HTTP: the app as ``deskbot serve`` builds it, on uvicorn on loopback.

SQLite and PostgreSQL. Tickets are opened through the desk's own functions; everything after that goes
through the API, as an agent (``alice``, ``bob``) or an admin (``root``) with an API token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
from aiosmtpd.smtp import SMTP
from sqlalchemy import Engine, select

from bot.dispatcher import Dispatcher
from bot.worker_settings import BotSettings
from bot.web.api import PREFIX
from channels.email import EmailChannel
from desk import AuthorKind, Direction, TicketType, UnitOfWork, accounts, people, tickets
from desk.models import OutboxRow

TICKETS = f"{PREFIX}/tickets"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def as_(uow: UnitOfWork, username: str) -> dict[str, str]:
    with uow() as session:
        token = accounts.create_token(session=session, username=username, name="test", now=dt.datetime.now(dt.UTC))
    return {"Authorization": f"Bearer {token.secret}"}


def open_ticket(uow: UnitOfWork, subject: str, *, group: str = "Network", email: str = "ana@corp.example",
                channel: str = "email", created: dt.datetime = T0, text: str | None = None,
                ticket_type: TicketType | None = None, assignee: str | None = None) -> int:
    """A ticket from ``email``'s verified requester, with their first message on ``channel``."""
    with uow() as session:
        requester = people.resolve_requester(session=session, channel="email", external_id=email,
                                             display_name=email.split("@")[0].title(), email=email,
                                             email_verified=True)
        ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject=subject, channel=channel,
                                     actor="bot", group=group, ticket_type=ticket_type, auto_assign=False,
                                     now=created)
        tickets.add_message(session=session, idempotency_key=f"in:{ticket.number}", ticket=ticket, channel=channel,
                            direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, text=text or subject,
                            now=created)
        if assignee:
            tickets.assign(session=session, number=ticket.number, username=assignee, actor="test", now=created)
        return ticket.number


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


# --- the list --------------------------------------------------------------------------------------------------


def test_walking_the_cursor_returns_every_ticket_once_newest_first(uow: UnitOfWork, client: httpx.Client) -> None:
    # Three tickets per instant: the cursor must order (and split pages) within equal creation times too.
    numbers = [open_ticket(uow, f"Problem {i}", created=T0 + dt.timedelta(minutes=i // 3)) for i in range(30)]
    root = as_(uow, "root")
    seen, cursor, pages = [], None, 0
    while True:
        page = client.get(TICKETS, params={"limit": 7, **({"cursor": cursor} if cursor else {})}, headers=root)
        assert page.status_code == 200, page.text
        seen += [t["number"] for t in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and seen == sorted(numbers, key=lambda n: ((n - numbers[0]) // 3, n), reverse=True)
    first = client.get(TICKETS, params={"limit": 1}, headers=root).json()["items"][0]
    assert first == {"number": seen[0], "subject": "Problem 29", "status": "new", "type": "incident",
                     "priority": first["priority"], "group": "Network", "assignee": None, "requester": "Ana",
                     "channel": "email", "sla_state": "ok", "first_response_due": first["first_response_due"],
                     "resolution_due": first["resolution_due"], "created": "2026-03-02T09:09:00Z",
                     "updated": "2026-03-02T09:09:00Z"}
    assert client.get(TICKETS, headers=root).json()["next_cursor"] is None  # 30 fit in the default 50


def test_every_filter_narrows_the_list(uow: UnitOfWork, client: httpx.Client) -> None:
    vpn = open_ticket(uow, "VPN drops", text="the tunnel drops every 5 minutes", created=T0)
    mail = open_ticket(uow, "Mailbox full", group="Messaging", email="bo@corp.example", channel="slack",
                       created=T0 + dt.timedelta(days=1), assignee="bob")
    problem = open_ticket(uow, "Wifi outage", ticket_type=TicketType.PROBLEM, created=T0 + dt.timedelta(days=2))
    root = as_(uow, "root")
    client.post(f"{TICKETS}/{vpn}/priority", json={"priority": "P1"}, headers=root).raise_for_status()
    client.post(f"{TICKETS}/{mail}/status", json={"status": "pending"}, headers=root).raise_for_status()

    def numbers(**params: object) -> list[int]:
        answer = client.get(TICKETS, params=params, headers=root)
        assert answer.status_code == 200, answer.text
        return [t["number"] for t in answer.json()["items"]]

    assert numbers() == [problem, mail, vpn]
    assert numbers(status=["new", "pending"]) == [problem, mail, vpn] and numbers(status="pending") == [mail]
    assert numbers(type="problem") == [problem] and numbers(priority="P1") == [vpn]
    assert numbers(group="Messaging") == [mail] and numbers(channel="slack") == [mail]
    assert numbers(assignee="bob") == [mail] and numbers(requester="BO@corp.example") == [mail]
    assert numbers(sla_state="ok") == [problem, mail, vpn] and numbers(sla_state="breached") == []
    assert numbers(created_from="2026-03-03T00:00:00Z", created_to="2026-03-04T00:00:00+00:00") == [mail]
    assert numbers(q="TUNNEL") == [vpn] and numbers(q="outage") == [problem]  # message text, subject; any case
    assert numbers(q="100%") == [] and numbers(q="_") == []  # LIKE's wildcards are plain characters

    for params, where in (({"status": "bogus"}, "query.status"), ({"limit": 201}, "query.limit"),
                          ({"limit": 0}, "query.limit"), ({"created_from": "2026-03-03T00:00:00"}, "query.created_from"),
                          ({"cursor": "not-ours"}, "query.cursor"), ({"group": "Nowhere"}, "no group named 'Nowhere'"),
                          ({"assignee": "nobody"}, "no agent or admin"), ({"stauts": "new"}, "query.stauts")):
        refused = client.get(TICKETS, params=params, headers=root)
        assert refused.status_code == 422, (params, refused.text)
        assert error_of(refused)["code"] == "invalid_request" and where in error_of(refused)["message"], params


# --- who sees what -----------------------------------------------------------------------------------------------


def test_an_agent_sees_their_groups_the_triage_queue_and_their_own_tickets(uow: UnitOfWork,
                                                                          client: httpx.Client) -> None:
    network = open_ticket(uow, "VPN drops")
    triage = open_ticket(uow, "Something odd", group="Service Desk")
    mine = open_ticket(uow, "Printer jams", group="Workplace", assignee="alice")
    hidden = open_ticket(uow, "Monitor flickers", group="Workplace")
    alice = as_(uow, "alice")
    listed = client.get(TICKETS, headers=alice).json()["items"]
    assert sorted(t["number"] for t in listed) == sorted([network, triage, mine])
    assert [t["number"] for t in client.get(TICKETS, params={"q": "monitor"}, headers=alice).json()["items"]] == []
    assert client.get(f"{TICKETS}/{hidden}", headers=as_(uow, "root")).status_code == 200
    for number in (network, triage, mine):
        assert client.get(f"{TICKETS}/{number}", headers=alice).status_code == 200


def test_another_groups_ticket_is_not_found_on_read_and_on_every_action(uow: UnitOfWork,
                                                                        client: httpx.Client) -> None:
    hidden = open_ticket(uow, "Mailbox full", group="Messaging")
    problem = open_ticket(uow, "Mail outage", group="Messaging", ticket_type=TicketType.PROBLEM)
    own = open_ticket(uow, "VPN drops")
    alice = as_(uow, "alice")
    missing = 999_999
    bodies = {"assign": {}, "reply": {"text": "hi"}, "notes": {"text": "hi"}, "status": {"status": "open"},
              "priority": {"priority": "P2"}, "link-problem": {"problem": own}, "merge": {"into": own},
              "send-article": {"article_id": "KB-0001"}, "intent": {"intent": "mailbox_full"}, "csat": {"score": 5}}
    spec = client.get("/openapi.json").json()["paths"]
    actions = {p.rsplit("/", 1)[1] for p in spec if p.startswith(f"{TICKETS}/{{number}}/")}
    assert actions == set(bodies), "every action route is covered here"

    def refused(method: str, url: str, **kwargs: object) -> dict[str, str]:
        answer = client.request(method, url, headers=alice, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == 404, (url, answer.text)
        return error_of(answer)

    assert refused("GET", f"{TICKETS}/{hidden}") == {"code": "not_found", "message": f"no ticket #{hidden}"}
    assert refused("GET", f"{TICKETS}/{missing}") == {"code": "not_found", "message": f"no ticket #{missing}"}
    for action, body in bodies.items():
        if action != "send-article":  # without the NLP in this process it is refused before any ticket is read
            assert refused("POST", f"{TICKETS}/{hidden}/{action}", json=body)["message"] == f"no ticket #{hidden}"
    # The other ticket an action names must be visible too.
    assert refused("POST", f"{TICKETS}/{own}/merge", json={"into": hidden})["message"] == f"no ticket #{hidden}"
    assert refused("POST", f"{TICKETS}/{own}/link-problem", json={"problem": problem})["message"] == f"no ticket #{problem}"
    root = as_(uow, "root")
    detail = client.get(f"{TICKETS}/{hidden}", headers=root).json()
    assert detail["status"] == "new" and detail["assignee"] is None and detail["priority"] != "P2"
    assert [m["direction"] for m in detail["conversation"]] == ["inbound"] and detail["audit"][-1]["actor"] == "bot"


# --- one ticket --------------------------------------------------------------------------------------------------


def test_the_detail_has_every_channels_messages_in_order_the_bots_reasons_the_audit_and_other_tickets(
        uow: UnitOfWork, client: httpx.Client) -> None:
    earlier = open_ticket(uow, "Wifi slow", created=T0 - dt.timedelta(days=3))
    hidden = open_ticket(uow, "Printer jams", group="Workplace", created=T0 - dt.timedelta(days=2))
    number = open_ticket(uow, "VPN drops", text="my VPN drops", created=T0)
    with uow() as session:
        ticket = tickets.get_ticket(session=session, number=number)
        tickets.add_message(session=session, idempotency_key="decision", ticket=ticket, direction=Direction.NOTE,
                            author_kind=AuthorKind.BOT, channel="bot", text="decision ticket: vpn_connection 0.91",
                            now=T0 + dt.timedelta(seconds=1))
        tickets.add_message(session=session, idempotency_key="slack", ticket=ticket, direction=Direction.INBOUND,
                            author_kind=AuthorKind.REQUESTER, channel="slack", text="still dropping",
                            now=T0 + dt.timedelta(minutes=5))
    alice = as_(uow, "alice")
    client.post(f"{TICKETS}/{number}/notes", json={"text": "checking the gateway"}, headers=alice).raise_for_status()
    client.post(f"{TICKETS}/{number}/reply", json={"text": "Please restart the client"}, headers=alice).raise_for_status()

    detail = client.get(f"{TICKETS}/{number}", headers=alice).json()
    assert [(m["direction"], m["internal"], m["author_kind"], m["author"], m["channel"], m["text"])
            for m in detail["conversation"]] == [
        ("inbound", False, "requester", None, "email", "my VPN drops"),
        ("note", True, "bot", None, "bot", "decision ticket: vpn_connection 0.91"),
        ("inbound", False, "requester", None, "slack", "still dropping"),
        ("note", True, "agent", "alice", "api", "checking the gateway"),
        ("outbound", False, "agent", "alice", "email", "Please restart the client"),
    ]
    assert [m["text"] for m in detail["analysis"]["decisions"]] == ["decision ticket: vpn_connection 0.91"]
    assert detail["analysis"]["intent"] is None and detail["suggested_articles"] is None  # no NLP in this app
    assert detail["status"] == "open"  # the agent's answer opened it
    assert [(e["actor"], e["field"]) for e in detail["audit"]] == [
        ("bot", "created"), ("user:alice", "first_response_at"), ("user:alice", "status")]
    assert detail["requester_tickets"] == [{"number": earlier, "subject": "Wifi slow", "status": "new"}]
    assert hidden not in [t["number"] for t in detail["requester_tickets"]]  # another group's: not even its number


def test_the_detail_suggests_articles_for_the_latest_inbound_message_and_one_can_be_sent(
        served, engine: Engine, uow: UnitOfWork, desk_users: None, analyzer) -> None:  # noqa: ANN001
    latest = "my account is locked out after too many sign-in attempts"
    number = open_ticket(uow, "Help", text="the printer on floor 2 jams")
    with uow() as session:
        tickets.add_message(session=session, idempotency_key="later", direction=Direction.INBOUND, channel="email",
                            ticket=tickets.get_ticket(session=session, number=number),
                            author_kind=AuthorKind.REQUESTER, text=latest, now=T0 + dt.timedelta(minutes=1))
    expected = [h.article_id for h in analyzer.analyze(latest).kb_hits[:3]]
    with served(engine, analyzer=analyzer) as client:
        alice = as_(uow, "alice")
        suggested = client.get(f"{TICKETS}/{number}", headers=alice).json()["suggested_articles"]
        assert [a["id"] for a in suggested] == expected and len(expected) == 3
        assert suggested[0]["url"] == f"http://127.0.0.1:8080/kb/{expected[0]}" and suggested[0]["title"]
        sent = client.post(f"{TICKETS}/{number}/send-article", json={"article_id": expected[0]}, headers=alice)
        assert sent.status_code == 200 and sent.json()["outbox_id"] > 0, sent.text
        unknown = client.post(f"{TICKETS}/{number}/send-article", json={"article_id": "KB-9999"}, headers=alice)
        assert unknown.status_code == 404 and "no article KB-9999" in error_of(unknown)["message"]
        conversation = client.get(f"{TICKETS}/{number}", headers=alice).json()["conversation"]
    assert conversation[-1]["text"] == f"sent article {expected[0]}" and conversation[-1]["author"] == "alice"


# --- actions -----------------------------------------------------------------------------------------------------


def test_every_action_is_audited_in_the_signed_in_agents_name(uow: UnitOfWork, client: httpx.Client) -> None:
    number = open_ticket(uow, "VPN drops")
    problem = open_ticket(uow, "VPN outage", ticket_type=TicketType.PROBLEM)
    duplicate = open_ticket(uow, "VPN drops again")
    alice = as_(uow, "alice")
    steps = [("assign", {}, {"assignee": "alice", "status": "open"}),
             ("priority", {"priority": "P2"}, {"priority": "P2"}),
             ("link-problem", {"problem": problem}, {}),
             ("intent", {"intent": "vpn_connection"}, {}),
             ("status", {"status": "pending"}, {"status": "pending"}),
             ("status", {"status": "resolved"}, {"status": "resolved"}),
             ("csat", {"score": 4}, {})]
    for action, body, expected in steps:
        answer = client.post(f"{TICKETS}/{number}/{action}", json=body, headers=alice)
        assert answer.status_code == 200, (action, answer.text)
        assert expected.items() <= answer.json().items(), (action, answer.json())
    merged = client.post(f"{TICKETS}/{duplicate}/merge", json={"into": problem}, headers=alice)
    assert merged.status_code == 200 and merged.json()["number"] == problem
    root = as_(uow, "root")
    audits = {n: client.get(f"{TICKETS}/{n}", headers=root).json()["audit"] for n in (number, problem, duplicate)}
    changes = [e for trail in audits.values() for e in trail if e["field"] != "created"]
    assert {e["actor"] for e in changes} == {"user:alice"}, changes
    fields = {e["field"] for e in audits[number]}
    assert {"assignee", "priority", "parent_id", "confirmed_intent", "status", "csat_score"} <= fields
    assert client.get(f"{TICKETS}/{number}", headers=root).json()["csat_score"] == 4
    assert client.get(f"{TICKETS}/{number}", headers=root).json()["problem"] == problem


def test_desk_refusals_are_4xx_in_the_error_shape(uow: UnitOfWork, client: httpx.Client) -> None:
    number = open_ticket(uow, "VPN drops")
    alice = as_(uow, "alice")
    for action, body, status, code in (
            ("intent", {"intent": "astrology"}, 400, "refused"),
            ("csat", {"score": 4}, 400, "refused"),  # not resolved yet
            ("csat", {"score": 6}, 422, "invalid_request"),
            ("link-problem", {"problem": number}, 400, "refused"),  # not a problem
            ("assign", {"to": "nobody"}, 404, "not_found"),
            ("status", {"status": "closed", "resolution_code": "nonsense"}, 422, "invalid_request"),
            ("reply", {"text": "   "}, 400, "refused"),
            ("notes", {"text": ""}, 422, "invalid_request"),
            ("send-article", {"article_id": "KB-0001"}, 503, "nlp_unavailable")):
        answer = client.post(f"{TICKETS}/{number}/{action}", json=body, headers=alice)
        assert answer.status_code == status and error_of(answer)["code"] == code, (action, body, answer.text)
    client.post(f"{TICKETS}/{number}/status", json={"status": "closed"}, headers=alice).raise_for_status()
    reopen = client.post(f"{TICKETS}/{number}/status", json={"status": "open"}, headers=alice)
    assert reopen.status_code == 409 and "closed is final" in error_of(reopen)["message"]


def test_merging_moves_the_conversation_and_resolves_the_duplicate(uow: UnitOfWork, client: httpx.Client) -> None:
    original = open_ticket(uow, "VPN drops", text="my VPN drops")
    duplicate = open_ticket(uow, "VPN again", text="the VPN dropped again", email="bo@corp.example")
    alice = as_(uow, "alice")
    answer = client.post(f"{TICKETS}/{duplicate}/merge", json={"into": original}, headers=alice)
    assert answer.status_code == 200 and answer.json()["number"] == original
    merged = client.get(f"{TICKETS}/{original}", headers=alice).json()
    assert [m["text"] for m in merged["conversation"]] == ["my VPN drops", "the VPN dropped again"]
    gone = client.get(f"{TICKETS}/{duplicate}", headers=alice).json()
    assert gone["status"] == "resolved" and gone["resolution_code"] == "duplicate" and gone["conversation"] == []
    assert {(e["field"], e["new"]) for e in gone["audit"] if e["actor"] == "user:alice"} >= {
        ("merged_into", f"#{original}"), ("resolution_code", "duplicate")}


def test_a_confirmed_intent_is_in_the_next_trainings_examples(uow: UnitOfWork, client: httpx.Client) -> None:
    number = open_ticket(uow, "Help", text="outlook says my mailbox is over its quota")
    answer = client.post(f"{TICKETS}/{number}/intent", json={"intent": "mailbox_full"}, headers=as_(uow, "alice"))
    assert answer.status_code == 200, answer.text
    with uow() as session:
        assert tickets.confirmed_intent_examples(session=session) == [
            ("outlook says my mailbox is over its quota", "mailbox_full")]


def test_a_reply_sent_again_with_its_idempotency_key_is_queued_once(uow: UnitOfWork, client: httpx.Client) -> None:
    number = open_ticket(uow, "VPN drops", text="my VPN drops")
    alice, root = as_(uow, "alice"), as_(uow, "root")
    url, answer = f"{TICKETS}/{number}/reply", {"text": "Please restart the VPN client."}

    def reply(headers: dict[str, str], key: str | None, body: dict[str, str] = answer) -> httpx.Response:
        return client.post(url, json=body, headers={**headers, **({"Idempotency-Key": key} if key is not None else {})})

    first = reply(alice, "retry-1")
    assert first.status_code == 200, first.text
    again = reply(alice, "retry-1")
    assert again.status_code == 200 and again.json() == first.json()  # the same outbox row, the same ticket
    reused = reply(alice, "retry-1", {"text": "Something else"})
    assert reused.status_code == 422 and "'retry-1' was used for another reply" in error_of(reused)["message"]
    others = [reply(alice, "retry-2"), reply(root, "retry-1"), reply(alice, None), reply(alice, None)]
    assert [r.status_code for r in others] == [200] * 4  # another key, another caller's key, no key: new replies
    outbox_ids = [first.json()["outbox_id"], *(r.json()["outbox_id"] for r in others)]
    assert len(set(outbox_ids)) == 5
    empty = reply(alice, "")
    assert empty.status_code == 422 and "Idempotency-Key" in error_of(empty)["message"]
    with uow() as session:
        ticket = tickets.get_ticket(session=session, number=number)
        queued = session.scalars(select(OutboxRow.id).where(OutboxRow.ticket_id == ticket.id)).all()
        sent = [m for m in tickets.thread(session=session, ticket=ticket) if m.direction is Direction.OUTBOUND]
    assert sorted(queued) == sorted(outbox_ids) and len(sent) == 5


class Sink:
    """The company's relay: keeps what deskbot sends out."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.mails.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def test_an_agents_reply_through_the_api_reaches_the_email_requester(uow: UnitOfWork, client: httpx.Client) -> None:
    number = open_ticket(uow, "VPN drops", text="my VPN drops")
    answer = client.post(f"{TICKETS}/{number}/reply", json={"text": "Please restart the VPN client."},
                         headers=as_(uow, "alice"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["ticket"]["status"] == "open" and answer.json()["outbox_id"] > 0

    async def deliver() -> list[EmailMessage]:
        sink = Sink()
        relay = await asyncio.get_running_loop().create_server(lambda: SMTP(sink), "127.0.0.1", 0)
        try:
            channel = EmailChannel(host="127.0.0.1", port=0, addresses=("support@deskbot.example",),
                                   max_bytes=200_000, relay_host="127.0.0.1",
                                   relay_port=relay.sockets[0].getsockname()[1])
            assert await Dispatcher(uow=uow, channels={"email": channel}, worker="d",
                                     settings=BotSettings.defaults()).dispatch_once() == 1
        finally:
            relay.close()
        return sink.mails

    [mail] = asyncio.run(deliver())
    assert mail["To"] == "ana@corp.example" and "VPN drops" in mail["Subject"]
    assert "Alice (IT service desk): Please restart the VPN client." in mail.get_body(("plain",)).get_content()
