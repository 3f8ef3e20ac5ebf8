"""The per-sender inbound limit on the real databases: the excess is held (stored, never claimed) until released,
and the count holds with many writers at once."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from desk import NotFound, QueueStatus, UnitOfWork, queue
from desk.models import InboxRow

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def _accept(uow: UnitOfWork, key: str, *, sender: str = "ana@corp.example", per_hour: int = 3,
            now: dt.datetime = NOW, channel: str = "email") -> QueueStatus | None:
    with uow() as s:
        return queue.accept_inbound(session=s, key=key, channel=channel, payload="{}", now=now,
                                    conversation=f"{channel}|{sender}|{key}", sender=sender, per_hour=per_hour)


def _statuses(uow: UnitOfWork) -> dict[str, QueueStatus]:
    with uow() as s:
        return {r.key: r.status for r in s.scalars(select(InboxRow).order_by(InboxRow.id))}


def test_past_the_hourly_limit_messages_are_held_and_never_claimed(uow) -> None:  # noqa: ANN001
    results = [_accept(uow, f"m{i}", now=NOW + dt.timedelta(minutes=i)) for i in range(5)]
    assert results == [QueueStatus.PENDING] * 3 + [QueueStatus.HELD] * 2
    assert _accept(uow, "m4") is None  # a redelivery stays one message
    assert _accept(uow, "bob1", sender="bob@corp.example") is QueueStatus.PENDING  # another sender is not held
    assert _accept(uow, "slack1", channel="slack") is QueueStatus.PENDING  # nor the same id on another channel
    assert _accept(uow, "nolimit", per_hour=0) is QueueStatus.PENDING  # 0: no limit
    # An hour after the first three, the window has room again.
    assert _accept(uow, "later", now=NOW + dt.timedelta(hours=1, minutes=3)) is QueueStatus.PENDING
    with uow() as s:
        claimed = queue.claim_inbound(session=s, worker="w", limit=50, now=NOW + dt.timedelta(hours=2))
        assert {r.key for r in claimed} == {"m0", "m1", "m2", "bob1", "slack1", "nolimit", "later"}
        assert [r.key for r in queue.held_inbound(session=s)] == ["m3", "m4"]
        assert [r.sender for r in queue.held_inbound(session=s, sender="ANA@corp.example")] == ["ana@corp.example"] * 2


def test_held_messages_are_released_by_id_or_by_sender(uow) -> None:  # noqa: ANN001
    for i in range(4):
        _accept(uow, f"a{i}", per_hour=1)
        _accept(uow, f"b{i}", sender="bob@corp.example", per_hour=1)
    with uow() as s:
        held = {r.key: r.id for r in queue.held_inbound(session=s)}
    assert sorted(held) == ["a1", "a2", "a3", "b1", "b2", "b3"]
    with uow() as s, pytest.raises(NotFound, match=str(held["a1"] + 1000)):
        queue.release_inbound(session=s, now=NOW, row_ids=[held["a1"], held["a1"] + 1000])
    assert _statuses(uow)["a1"] is QueueStatus.HELD  # nothing released by a bad list
    with uow() as s:
        assert [r.key for r in queue.release_inbound(session=s, now=NOW, row_ids=[held["a1"]])] == ["a1"]
    with uow() as s:
        assert [r.key for r in queue.release_inbound(session=s, now=NOW, sender="bob@corp.example")] == ["b1", "b2", "b3"]
    statuses = _statuses(uow)
    assert [k for k, v in statuses.items() if v is QueueStatus.HELD] == ["a2", "a3"]
    with uow() as s:
        claimed = queue.claim_inbound(session=s, worker="w", limit=50, now=NOW + dt.timedelta(seconds=1))
        assert {r.key for r in claimed} == {"a0", "a1", "b0", "b1", "b2", "b3"}


def test_the_limit_holds_with_many_writers_at_once(uow) -> None:  # noqa: ANN001
    """Eight writers (threads with their own connections; on PostgreSQL the same as processes) accept one
    sender's 80 messages at once: exactly the limit is pending."""
    start = threading.Barrier(8, timeout=30)

    def writer(n: int) -> list[QueueStatus | None]:
        start.wait()
        return [_accept(uow, f"w{n}-{i}", per_hour=25, now=NOW + dt.timedelta(seconds=i)) for i in range(10)]

    with ThreadPoolExecutor(8) as pool:
        results = [r for rs in pool.map(writer, range(8)) for r in rs]
    assert (results.count(QueueStatus.PENDING), results.count(QueueStatus.HELD)) == (25, 55)
    statuses = list(_statuses(uow).values())
    assert (statuses.count(QueueStatus.PENDING), statuses.count(QueueStatus.HELD)) == (25, 55)


def test_a_worker_whose_lease_ran_out_cannot_undo_what_another_claim_finished(uow) -> None:  # noqa: ANN001
    _accept(uow, "m1", per_hour=0)
    lease = dt.timedelta(seconds=3)
    with uow() as s:
        [first] = queue.claim_inbound(session=s, worker="w1", limit=1, now=NOW, lease=lease)
    later = NOW + dt.timedelta(seconds=10)  # w1 stalled past its lease: the row is claimed again, and done
    with uow() as s:
        [again] = queue.claim_inbound(session=s, worker="w2", limit=1, now=later, lease=lease)
        assert again.id == first.id
        assert queue.complete_inbound(session=s, row_id=again.id, worker="w2", now=later)
    with uow() as s:  # w1 wakes up, its own attempt fails (the message is stored already): nothing changes
        assert queue.fail_inbound(session=s, row_id=first.id, error="DuplicateKey", now=later, max_attempts=5,
                                  worker="w1") is QueueStatus.DONE
    assert _statuses(uow) == {"m1": QueueStatus.DONE}
