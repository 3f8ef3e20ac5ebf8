"""Concurrent writers on the real databases: distinct ticket numbers, one message per key."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from desk import AuthorKind, Direction, DuplicateKey, UnitOfWork
from desk import people, tickets


def _requester_id(uow: UnitOfWork) -> int:
    with uow() as s:
        return people.resolve_requester(session=s, channel="email", external_id="ana@corp.example",
                                        email="ana@corp.example", email_verified=True).id


def test_concurrent_sessions_get_distinct_ticket_numbers(uow) -> None:  # noqa: ANN001
    requester_id = _requester_id(uow)
    start = threading.Barrier(4, timeout=30)

    def open_many(worker: int) -> list[int]:
        start.wait()
        numbers = []
        for i in range(10):
            with uow() as s:
                t = tickets.open_ticket(session=s, requester_id=requester_id, subject=f"w{worker} t{i}",
                                        channel="email", actor=f"worker-{worker}")
                numbers.append(t.number)
        return numbers

    with ThreadPoolExecutor(4) as pool:
        results = [n for numbers in pool.map(open_many, range(4)) for n in numbers]
    assert len(results) == 40
    assert sorted(results) == list(range(1000, 1040))
    with uow() as s:
        assert len(tickets.list_tickets(session=s, limit=100)) == 40


def test_a_duplicate_key_from_two_sessions_stores_one_message(uow, engine) -> None:  # noqa: ANN001
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): two transactions are never open at once")
    requester_id = _requester_id(uow)
    with uow() as s:
        number = tickets.open_ticket(session=s, requester_id=requester_id, subject="x", channel="email", actor="t").number
    start = threading.Barrier(2, timeout=30)

    def deliver(copy: int) -> str:
        try:
            with uow() as s:
                ticket = tickets.get_ticket(session=s, number=number)
                start.wait()
                tickets.add_message(session=s, idempotency_key="slack:Ev42", ticket=ticket, direction=Direction.INBOUND,
                                    author_kind=AuthorKind.REQUESTER, channel="slack", text=f"copy {copy}")
                # the transaction goes on after the message, as a worker's would
                tickets.set_tags(session=s, ticket=ticket, tags=[f"copy{copy}"], actor="t")
            return "stored"
        except DuplicateKey:
            return "duplicate"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(deliver, range(2)))
    assert outcomes == ["duplicate", "stored"]
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=number)
        messages = tickets.thread(session=s, ticket=ticket)
        assert len(messages) == 1
        # the winner's whole transaction landed, the loser's not at all
        assert tickets.tags_of(session=s, ticket=ticket) == [messages[0].text.replace(" ", "")]


def test_duplicate_inside_one_transaction_keeps_the_rest(uow) -> None:  # noqa: ANN001
    requester_id = _requester_id(uow)
    with uow() as s:
        t = tickets.open_ticket(session=s, requester_id=requester_id, subject="x", channel="email", actor="t")
        tickets.add_message(session=s, idempotency_key="k1", ticket=t, direction=Direction.INBOUND,
                            author_kind=AuthorKind.REQUESTER, channel="email", text="first")
        with pytest.raises(DuplicateKey):
            tickets.add_message(session=s, idempotency_key="k1", ticket=t, direction=Direction.INBOUND,
                                author_kind=AuthorKind.REQUESTER, channel="email", text="again")
        tickets.add_message(session=s, idempotency_key="k2", ticket=t, direction=Direction.INBOUND,
                            author_kind=AuthorKind.REQUESTER, channel="email", text="second")
    with uow() as s:
        t = tickets.get_ticket(session=s, number=t.number)
        assert [m.text for m in tickets.thread(session=s, ticket=t)] == ["first", "second"]


def test_the_health_check_answers_while_a_writer_holds_the_database(uow) -> None:  # noqa: ANN001
    requester_id = _requester_id(uow)
    holding, release = threading.Event(), threading.Event()

    def write_slowly() -> None:
        with uow() as s:  # on SQLite: BEGIN IMMEDIATE, the write lock until it commits
            tickets.open_ticket(session=s, requester_id=requester_id, subject="held", channel="email", actor="w")
            s.flush()
            holding.set()
            release.wait(30)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        assert holding.wait(30)
        pinged = threading.Thread(target=uow.ping)
        pinged.start()
        pinged.join(10)  # a ping queued behind the writer would wait for it (busy timeout: 30 s)
        assert not pinged.is_alive(), "the health check waited for the writer's lock"
    finally:
        release.set()
        writer.join(30)
