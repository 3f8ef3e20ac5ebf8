"""Tickets through the service layer: routing, priority, assignment, the status machine, audit."""

from __future__ import annotations

import datetime as dt

import pytest

from desk import (AuthorKind, DeskError, Direction, InvalidTransition, Level, NotFound, Priority, ResolutionCode, Status,
                  TicketType)
from desk import people, relations, tickets
from desk.domain import PRIORITY_MATRIX, TRANSITIONS

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday, inside default business hours


def requester(session, email: str = "ana@corp.example"):  # noqa: ANN001, ANN201
    return people.resolve_requester(session=session, channel="email", external_id=email, email=email, email_verified=True)


def open_(session, **kwargs):  # noqa: ANN001, ANN003, ANN201
    kwargs.setdefault("requester_id", requester(session).id)
    kwargs.setdefault("subject", "VPN drops every hour")
    kwargs.setdefault("channel", "email")
    kwargs.setdefault("actor", "test")
    kwargs.setdefault("now", T0)
    return tickets.open_ticket(session=session, **kwargs)


def test_numbers_start_at_1000_and_increase(uow) -> None:  # noqa: ANN001
    with uow() as s:
        numbers = [open_(s).number for _ in range(3)]
    assert numbers == [1000, 1001, 1002]


def test_intent_routes_to_group_type_and_priority(uow) -> None:  # noqa: ANN001
    with uow() as s:
        t = open_(s, intent="software_access", subject="Need Salesforce access")
        assert (t.group.name, t.type) == ("Identity & Access", TicketType.SERVICE_REQUEST)
        # default impact LOW (one person) x routing urgency LOW -> P4
        assert (t.impact, t.urgency, t.priority) == (3, 3, Priority.P4)

        outage = open_(s, intent="network_outage", impact=Level.HIGH)
        # impact HIGH x routing urgency HIGH -> P1
        assert (outage.group.name, outage.type, outage.priority) == ("Network", TicketType.INCIDENT, Priority.P1)

        unknown = open_(s, intent="no_such_intent")
        assert unknown.group.name == "Service Desk"

        explicit = open_(s, intent="vpn_connection", group="Security", ticket_type=TicketType.PROBLEM, urgency=Level.LOW)
        assert (explicit.group.name, explicit.type, explicit.urgency) == ("Security", TicketType.PROBLEM, 3)

        # the routed urgency raised a step (software_access: LOW -> MEDIUM), two steps, never above HIGH; no rule: MEDIUM
        raised = [open_(s, intent="software_access", urgency_raise=n).urgency for n in (1, 2, 5)]
        assert raised == [2, 1, 1]
        assert open_(s, intent="no_such_intent", urgency_raise=1).urgency == 1
        assert open_(s, intent="software_access", urgency=Level.LOW, urgency_raise=2).urgency == 3  # given: as given


def test_priority_matrix_is_complete_and_monotonic() -> None:
    assert len(PRIORITY_MATRIX) == 9
    order = [Priority.P1, Priority.P2, Priority.P3, Priority.P4]
    for (impact, urgency), priority in PRIORITY_MATRIX.items():
        # raising either impact or urgency never lowers the priority
        if impact.value > 1:
            assert order.index(PRIORITY_MATRIX[(Level(impact.value - 1), urgency)]) <= order.index(priority)
        if urgency.value > 1:
            assert order.index(PRIORITY_MATRIX[(impact, Level(urgency.value - 1))]) <= order.index(priority)


def test_least_loaded_agent_with_round_robin_on_ties(uow) -> None:  # noqa: ANN001
    with uow() as s:
        for name in ("amy", "ben", "cy"):
            people.add_user(session=s, username=name, display_name=name, email=f"{name}@corp.example", groups=["Network"])
        people.add_user(session=s, username="dan", display_name="dan", email="dan@corp.example", groups=["Workplace"])
        people.set_availability(session=s, username="cy", available=False)
        assignees = []
        for minute in range(4):
            t = open_(s, intent="vpn_connection", now=T0 + dt.timedelta(minutes=minute))
            assignees.append(t.assignee.username)
        # cy is unavailable and dan is in another group: amy and ben alternate
        assert assignees == ["amy", "ben", "amy", "ben"]
        assert all(t.status is Status.OPEN for t in tickets.list_tickets(session=s, group="Network"))

        # resolving two of amy's tickets makes her the least loaded
        for t in tickets.list_tickets(session=s, assignee="amy"):
            tickets.resolve(session=s, number=t.number, actor="test", now=T0 + dt.timedelta(hours=1))
        t = open_(s, intent="vpn_connection", now=T0 + dt.timedelta(hours=2))
        assert t.assignee.username == "amy"


def test_unstaffed_group_leaves_ticket_new_and_unassigned(uow) -> None:  # noqa: ANN001
    with uow() as s:
        t = open_(s, intent="printer_problem")
        assert (t.assignee, t.status) == (None, Status.NEW)
        with pytest.raises(DeskError, match="no available agent"):
            tickets.assign(session=s, number=t.number, actor="test")
        people.add_user(session=s, username="eve", display_name="Eve", email="eve@corp.example")
        tickets.assign(session=s, number=t.number, username="eve", actor="test")
        assert (t.assignee.username, t.status) == ("eve", Status.OPEN)


def test_every_transition_of_the_table(uow) -> None:  # noqa: ANN001
    for current, allowed in TRANSITIONS.items():
        for target in Status:
            with uow() as s:
                t = open_(s, auto_assign=False)
                t.status = current  # put the ticket in the state under test
                if current in (Status.RESOLVED, Status.CLOSED):
                    t.resolved_at = T0
                s.flush()
                if target in allowed:
                    tickets.change_status(session=s, number=t.number, status=target, actor="test",
                                          resolution_code=ResolutionCode.AGENT, reopen_window=dt.timedelta(days=7),
                                          now=T0 + dt.timedelta(hours=1))
                    assert t.status is target
                else:
                    with pytest.raises(InvalidTransition, match=f"from {current.value} to {target.value}"):
                        tickets.change_status(session=s, number=t.number, status=target, actor="test",
                                              resolution_code=ResolutionCode.AGENT, now=T0 + dt.timedelta(hours=1))
                    assert t.status is current


def test_resolve_needs_a_code_and_records_times(uow) -> None:  # noqa: ANN001
    with uow() as s:
        t = open_(s)
        with pytest.raises(DeskError, match="resolution code"):
            tickets.change_status(session=s, number=t.number, status=Status.RESOLVED, actor="test", now=T0)
        tickets.resolve(session=s, number=t.number, actor="agent:amy", now=T0 + dt.timedelta(hours=3))
        assert t.resolved_at == T0 + dt.timedelta(hours=3)
        assert t.resolution_seconds == 3 * 3600
        # Monday 10:00 -> 13:00, all inside 09:00-17:00
        assert t.resolution_business_seconds == 3 * 3600
        tickets.change_status(session=s, number=t.number, status=Status.CLOSED, actor="test", now=T0 + dt.timedelta(days=1))
        assert t.closed_at == T0 + dt.timedelta(days=1)


def test_reopen_within_the_window_only(uow) -> None:  # noqa: ANN001
    with uow() as s:
        t = open_(s)
        tickets.resolve(session=s, number=t.number, actor="test", now=T0)
        tickets.change_status(session=s, number=t.number, status=Status.OPEN, actor="requester",
                              now=T0 + dt.timedelta(days=6), reopen_window=dt.timedelta(days=7))
        assert (t.status, t.reopen_count, t.resolved_at, t.resolution_code) == (Status.OPEN, 1, None, None)

        tickets.resolve(session=s, number=t.number, actor="test", now=T0 + dt.timedelta(days=7))
        with pytest.raises(InvalidTransition, match="outside the 7-day reopen window"):
            tickets.change_status(session=s, number=t.number, status=Status.OPEN, actor="requester",
                                  now=T0 + dt.timedelta(days=15), reopen_window=dt.timedelta(days=7))
        assert t.status is Status.RESOLVED


def test_the_reopen_window_and_the_attachment_limit_are_the_callers_settings(uow) -> None:  # noqa: ANN001
    # The desk keeps no default of its own for either (the bot passes DESKBOT_REOPEN_WINDOW_DAYS and
    # DESKBOT_MAX_ATTACHMENT_BYTES): a caller that forgets is a bug, not a silent 7 days or 10 MiB.
    with uow() as s:
        t = open_(s)
        tickets.resolve(session=s, number=t.number, actor="test", now=T0)
        with pytest.raises(ValueError, match="needs the reopen window"):
            tickets.change_status(session=s, number=t.number, status=Status.OPEN, actor="requester",
                                  now=T0 + dt.timedelta(days=1))
        assert t.status is Status.RESOLVED
        with pytest.raises(ValueError, match="attachments need max_attachment_bytes"):
            tickets.add_message(session=s, idempotency_key="k", ticket=t, direction=Direction.INBOUND,
                                author_kind=AuthorKind.REQUESTER, channel="email", text="see attached",
                                attachments=[tickets.NewAttachment("a.png", "image/png", b"png")])
        assert tickets.thread(session=s, ticket=t) == []


def test_audit_trail_records_who_what_old_new_when(uow) -> None:  # noqa: ANN001
    with uow() as s:
        people.add_user(session=s, username="amy", display_name="Amy", email="amy@corp.example", groups=["Network"])
        t = open_(s, intent="vpn_connection", tags=["vpn", "GlobalProtect"])
        tickets.change_status(session=s, number=t.number, status=Status.PENDING, actor="agent:amy", now=T0 + dt.timedelta(minutes=5))
        tickets.confirm_intent(session=s, number=t.number, intent="wifi_connection", actor="agent:amy", now=T0 + dt.timedelta(minutes=6))
        trail = [(e.actor, e.field, e.old, e.new) for e in tickets.audit_trail(session=s, ticket=t)]
    assert trail == [
        ("test", "created", None, "incident P4"),
        ("test", "tags", None, "globalprotect,vpn"),
        ("test", "assignee", None, "amy"),
        ("test", "status", "new", "open"),
        ("agent:amy", "status", "open", "pending"),
        ("agent:amy", "confirmed_intent", None, "wifi_connection"),
    ]


def test_problem_links_incidents(uow) -> None:  # noqa: ANN001
    with uow() as s:
        problem = open_(s, ticket_type=TicketType.PROBLEM, subject="VPN gateway drops sessions")
        a, b = open_(s), open_(s, requester_id=requester(s, "bo@corp.example").id)
        for incident in (a, b):
            relations.link_to_problem(session=s, number=incident.number, problem_number=problem.number, actor="test")
        assert sorted(c.number for c in problem.children) == sorted([a.number, b.number])
        with pytest.raises(DeskError, match="not a problem"):
            relations.link_to_problem(session=s, number=b.number, problem_number=a.number, actor="test")


def test_csat_only_on_resolved_tickets_and_in_range(uow) -> None:  # noqa: ANN001
    with uow() as s:
        t = open_(s)
        with pytest.raises(DeskError, match="not resolved"):
            tickets.record_csat(session=s, number=t.number, score=5, actor="requester")
        tickets.resolve(session=s, number=t.number, actor="test", now=T0)
        with pytest.raises(DeskError, match="1 to 5"):
            tickets.record_csat(session=s, number=t.number, score=9, actor="requester")
        tickets.record_csat(session=s, number=t.number, score=4, actor="requester")
        assert t.csat_score == 4


def test_unknown_ticket_and_group_are_clear_errors(uow) -> None:  # noqa: ANN001
    with uow() as s:
        with pytest.raises(NotFound, match="no ticket #4242"):
            tickets.get_ticket(session=s, number=4242)
        with pytest.raises(NotFound, match="no group named 'Nope'"):
            open_(s, group="Nope")
        with pytest.raises(DeskError, match="needs a subject"):
            open_(s, subject="   ")


def test_a_failed_unit_of_work_leaves_nothing(uow) -> None:  # noqa: ANN001
    with pytest.raises(NotFound):
        with uow() as s:
            open_(s)
            tickets.get_ticket(session=s, number=99999)
    with uow() as s:
        assert tickets.list_tickets(session=s) == []
