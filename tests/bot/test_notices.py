"""Group notices come from the desk's events, in the transaction that made them (SQLite and PostgreSQL).

No pipeline here: the desk functions are called directly, as any caller (the worker, the command line, the API)
would, and the notices appear all the same, once per event.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot import notices
from bot.composition import Deskbot
from bot.notices import GroupNotices
from bot.notify import GroupNotifier, MajorIncidentNotice, Notifiers, SlaNotice, TicketNotice
from bot.settings import Settings
from bot.worker import BotSettings
from desk import AuthorKind, DeskError, Direction, Status, UnitOfWork, people, relations, sla, tickets
from desk.models import OutboxRow

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday, inside the default business hours
GROUP_MAIL = "sd@corp.example"


class RecordingNotifier:
    """Keeps the notices the groups would hear of."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    def new_ticket(self, session, notice, now) -> None:  # noqa: ANN001
        self.sent.append(notice)

    sla = major_incident = new_ticket


@pytest.fixture
def log() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def unit(uow: UnitOfWork, log: RecordingNotifier) -> UnitOfWork:
    with uow() as s:
        people.set_group_notifications(session=s, name="Service Desk", targets={"email": GROUP_MAIL})
    notifier = Notifiers([log, GroupNotifier(channels={"email"})])
    return uow.publishing(GroupNotices(notifier, kb_url=BotSettings.defaults().kb_url))


def open_(session, *, who: str = "ana@corp.example", **kwargs):  # noqa: ANN001, ANN003, ANN201
    requester = people.resolve_requester(session=session, channel="email", external_id=who, email=who,
                                         email_verified=True, display_name=who.split("@")[0])
    kwargs.setdefault("subject", "VPN drops every hour")
    kwargs.setdefault("group", "Service Desk")
    kwargs.setdefault("now", T0)
    return tickets.open_ticket(session=session, requester_id=requester.id, channel="email", actor="test", **kwargs)


def group_mail(uow: UnitOfWork) -> list[OutboxRow]:
    with uow() as s:
        return list(s.scalars(select(OutboxRow).where(OutboxRow.address == GROUP_MAIL).order_by(OutboxRow.id)))


def test_a_ticket_opened_by_any_caller_is_announced_once(unit: UnitOfWork, uow: UnitOfWork, log: RecordingNotifier) -> None:
    with unit() as s:
        people.add_user(session=s, username="amy", display_name="Amy", email="amy@corp.example")
        t = open_(s)
        # More news about it in the same transaction: still one notice, for the one opening.
        tickets.assign(session=s, number=t.number, username="amy", actor="test", now=T0)
        tickets.add_message(session=s, idempotency_key="a1", ticket=t, direction=Direction.OUTBOUND,
                            author_kind=AuthorKind.AGENT, channel="email", text="On it", now=T0)
        number = t.number
    [notice] = log.sent
    assert isinstance(notice, TicketNotice)
    assert (notice.ticket_number, notice.group, notice.requester, notice.assignee) == (number, "Service Desk", "ana",
                                                                                      "Amy")
    assert notice.reasons == "" and notice.analysis == ""  # nobody explained it: not the worker's ticket
    [row] = group_mail(uow)
    assert row.key == f"{notice.key}:email" and row.ticket_id == notice.ticket_id
    with unit() as s:  # later changes of the ticket are no new ticket
        tickets.change_status(session=s, number=number, status=Status.PENDING, actor="test", now=T0)
    assert len(log.sent) == 1 and len(group_mail(uow)) == 1


def test_a_ticket_waiting_on_the_requester_is_announced_when_escalated(unit: UnitOfWork, uow: UnitOfWork,
                                                                         log: RecordingNotifier) -> None:
    with unit() as s:  # how the bot answers from the KB: opened, then pending on the requester's "did it help?"
        t = open_(s, auto_assign=False)
        tickets.change_status(session=s, number=t.number, status=Status.PENDING, actor="bot", now=T0)
        number = t.number
    assert log.sent == [] and group_mail(uow) == []
    with unit() as s:
        tickets.escalate(session=s, number=number, actor="bot", now=T0 + dt.timedelta(minutes=3))
        notices.explain(s, notices.Why("requester says the article did not help", tried_article="KB-0001"))
    [notice] = log.sent
    assert isinstance(notice, TicketNotice) and notice.ticket_number == number
    assert (notice.reasons, notice.tried_article) == ("requester says the article did not help", "KB-0001")
    [row] = group_mail(uow)
    assert "Tried by the requester without success: KB-0001" in row.payload


def test_a_rolled_back_transaction_queues_no_notice(unit: UnitOfWork, uow: UnitOfWork, log: RecordingNotifier) -> None:
    with pytest.raises(DeskError), unit() as s:
        open_(s)
        raise DeskError("the worker lost its lease")
    assert log.sent == [] and group_mail(uow) == []
    with uow() as s:
        assert tickets.list_tickets(session=s) == []


def test_sla_alerts_and_a_major_incident_become_their_notices(unit: UnitOfWork, uow: UnitOfWork,
                                                              log: RecordingNotifier) -> None:
    with unit() as s:
        t = open_(s)
        number, due = t.number, t.first_response_due
    log.sent.clear()
    with unit() as s:
        sla.scan(session=s, now=due)  # the warning and the breach, found at once
    assert [(n.ticket_number, n.kind, n.level) for n in log.sent if isinstance(n, SlaNotice)] == [
        (number, "first_response", "warning"), (number, "first_response", "breach")]
    assert len(log.sent) == 2

    with unit() as s:
        reports = [open_(s, who=f"u{i}@corp.example", intent="network_outage", group=None) for i in range(3)]
    log.sent.clear()
    with unit() as s:
        incidents = [tickets.get_ticket(session=s, number=r.number) for r in reports]
        problem = relations.open_major_incident(session=s, incidents=incidents, intent="network_outage",
                                                requester_id=incidents[-1].requester_id, actor="bot", now=T0)
        problem_number = problem.number
    [notice] = log.sent  # the problem is announced as the major incident, not as one more new ticket
    assert isinstance(notice, MajorIncidentNotice)
    assert (notice.problem_number, notice.incidents) == (problem_number, tuple(r.number for r in reports))


def test_the_composition_root_wires_the_notices_into_every_unit_of_work(engine, uow: UnitOfWork) -> None:  # noqa: ANN001
    with uow() as s:
        people.set_group_notifications(session=s, name="Service Desk", targets={"email": GROUP_MAIL})
    deskbot = Deskbot(Settings(database_url=engine.url.render_as_string(hide_password=False)))  # type: ignore[call-arg]
    try:
        with deskbot.uow() as s:
            number = open_(s).number
        assert [r.key for r in group_mail(uow)] == [f"ticket:{number}:opened:email"]  # the email channel is on
    finally:
        deskbot.close()
