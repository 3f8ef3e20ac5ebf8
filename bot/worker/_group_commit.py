"""Group commit: what many threads hand in at once is committed in one transaction, not one each.

Every accepting channel (SMTP sessions, HTTP requests, Slack's socket) commits its message before it answers. On
SQLite each commit is a turn of the one write lock and a sync of the log, so eight mail clients at once queued
for eight turns; now the thread that finds nobody committing commits what all of them handed in, and while it
does, the next ones gather for the round after, led by the first of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Slot(Generic[Item, Result]):
    item: Item
    woken: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """``commit(items)`` returns, in order, each item's result or the exception that failed it alone; if it
    raises, every item of the round fails with that exception."""

    def __init__(self, commit: Callable[[Sequence[Item]], Sequence[Result | BaseException]]):
        self._commit = commit
        self._lock = threading.Lock()
        self._waiting: list[_Slot[Item, Result]] = []
        self._committing = False

    def __call__(self, item: Item) -> Result:
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            if not self._committing:
                self._committing = True
                slot.woken.set()
        slot.woken.wait()
        if not slot.finished:  # woken to lead: this round holds its own item
            self._round()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _round(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            outcomes: Sequence[Result | BaseException] = self._commit([s.item for s in batch])
        except BaseException as exc:  # noqa: BLE001 - the round's callers each raise it
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.finished = True
            slot.woken.set()
        with self._lock:
            if self._waiting:  # who came during this round: the first of them commits the next
                self._waiting[0].woken.set()
            else:
                self._committing = False
