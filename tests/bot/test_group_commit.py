"""Group commit of accepted messages: many threads at once, one transaction a round, each caller its own answer."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Sequence

from bot.conversation import ConversationRef, Identity, InboundMessage
from bot.worker import BotSettings, Pipeline
from bot.worker._group_commit import GroupCommit
from desk import QueueStatus, queue
from desk.models import InboxRow


def message(text: str, *, who: str, key: str) -> InboundMessage:
    return InboundMessage(key=key, conversation=ConversationRef("webchat", f"webchat:{who}", "t1"),
                          sender=Identity("webchat", f"webchat:{who}", who, who, email_verified=True), text=text,
                          received_at=dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC))


def test_callers_at_once_share_rounds_and_each_gets_its_own_result() -> None:
    rounds: list[list[int]] = []
    first_round, gate = threading.Event(), threading.Event()

    def commit(items: Sequence[int]) -> list[int | BaseException]:
        first_round.set()
        gate.wait(5)  # the first round holds until every other caller is queued behind it
        rounds.append(list(items))
        return [ValueError(f"no {i}") if i == 13 else i * 10 for i in items]

    grouped: GroupCommit[int, int] = GroupCommit(commit)
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            results[i] = grouped(i)
        except ValueError as exc:
            results[i] = str(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    threads[0].start()
    first_round.wait(5)
    for t in threads[1:]:
        t.start()
    while len(grouped._waiting) < 19:  # noqa: SLF001 - until the others have queued
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == {i: ("no 13" if i == 13 else i * 10) for i in range(20)}
    # the first caller's round, then everyone who came meanwhile (in the order they came)
    assert [sorted(r) for r in rounds] == [[0], list(range(1, 20))]


def test_a_round_whose_commit_fails_fails_each_of_its_callers() -> None:
    def commit(items: Sequence[str]) -> list[str | BaseException]:
        raise ConnectionError("database down")

    grouped: GroupCommit[str, str] = GroupCommit(commit)
    for item in ("a", "b"):
        try:
            grouped(item)
        except ConnectionError as exc:
            assert str(exc) == "database down"
        else:
            raise AssertionError("the failure was not raised")


def test_messages_accepted_from_many_threads_are_stored_once_each(uow, analyzer) -> None:  # noqa: ANN001
    pipeline = Pipeline(uow=uow, analyzer=analyzer, settings=BotSettings.defaults(), worker="w1")
    keys = [f"webchat:{uuid.uuid4()}" for _ in range(24)]
    answers: dict[tuple[int, str], bool] = {}

    def deliver(copy: int, key: str, i: int) -> None:  # every message twice, as a redelivering platform would
        answers[(copy, key)] = pipeline.accept(message("please install Visio on my laptop",
                                                       who=f"u{i}@corp.example", key=key))

    threads = [threading.Thread(target=deliver, args=(copy, key, i))
               for i, key in enumerate(keys) for copy in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(sum(answers[(copy, key)] for copy in (0, 1)) == 1 for key in keys)  # stored by one delivery only
    with uow() as s:
        rows = s.query(InboxRow).all()
        assert sorted(r.key for r in rows) == sorted(keys)
        assert {r.status for r in rows} == {QueueStatus.PENDING}
        assert len(queue.claim_inbound(session=s, worker="w1", limit=100, now=rows[0].received_at)) == 24
