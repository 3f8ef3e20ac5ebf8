"""Engines, sessions and the unit of work. Nothing here runs at import time.

The unit of work publishes the domain events its transaction recorded (``desk.events``) through an optional
``publish(session, events)`` hook, just *before* it commits, after a flush, in the same transaction. Not after
the commit: what the application makes of an event (a group notice is an outbox row) must commit atomically
with the change itself; a crash between the change's commit and a second transaction would lose the notice,
and a failing publish rolls the change back, so the message is retried whole.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from desk import events
from desk.domain import DeskError


class DatabaseUnavailable(DeskError):
    """The database cannot be reached or used (down, wrong URL, not migrated, locked)."""


@contextmanager
def database_errors(url: URL) -> Iterator[None]:
    """Turn driver-level failures into one ``DatabaseUnavailable`` line naming the database (never its password)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if url.password:  # a driver may quote the connection string it could not use
            reason = reason.replace(str(url.password), "***")
        raise DatabaseUnavailable(f"database {url.render_as_string(hide_password=True)}: {reason}") from exc


def masked_url(url: str) -> str:
    """``url`` fit for a message or a log: the password (if any) as ``***``, even when the URL does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # user:password@ up to the last '@', so that a password with a stray '@' is hidden whole (string
        # methods, not a backtracking pattern: the URL may be anything a person typed)
        scheme, sep, rest = url.partition("://")
        credentials, at, host = rest.rpartition("@")
        user, colon, _ = credentials.partition(":")
        if not (sep and at and colon) or "/" in user:
            return url
        return f"{scheme}://{user}:***@{host}"


def check_database_url(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` names a database deskbot supports."""
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ValueError(f"not a database URL: {masked_url(url)!r}") from exc
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}; use sqlite:/// or postgresql+psycopg://")


def is_in_memory(url: str) -> bool:
    """Whether ``url`` is an SQLite database in one process's memory (no other process can open it)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout, and its folder."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
        if not is_in_memory(url):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"]["factory"] = _queued_writers(f"{parsed.database}-writers")
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = {"deskbot_read_only": True}  # execution options of a connection that only reads


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock up front: two writers then queue instead of failing on upgrade. A read-only connection
    # (the health check) reads its WAL snapshot without queueing behind the writers.
    if connection.get_execution_options().get("deskbot_read_only"):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi = connection.connection.dbapi_connection
    if isinstance(dbapi, QueuedWriterConnection):
        dbapi.queue_for_writing()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(dbapi, QueuedWriterConnection):
            dbapi.done_writing()
        raise


class QueuedWriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions queue, across threads and processes, on an ``flock`` of a
    file beside the database, taken before ``BEGIN IMMEDIATE`` and released when the transaction ends.

    Why: SQLite's own wait for its write lock polls, sleeping 1, 2, 5 ... up to 100 ms between tries, so a writer
    that commits and begins again at once (the worker, message after message) keeps every other writer out;
    accepting a mail waited seconds behind it. The kernel wakes a writer waiting on ``flock`` the moment the lock
    is free. A process that dies holding it loses it with its files."""

    lock_path: str = ""  # set by ``_queued_writers``
    _held = threading.local()  # by lock file: this thread's connection that last began a write transaction

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._lock_fd: int | None = None
        self._writing = False
        self._writer = 0  # the thread of its write transaction

    def queue_for_writing(self) -> None:
        held: dict[str, QueuedWriterConnection] = self._held.__dict__.setdefault("by_path", {})
        other, me = held.get(self.lock_path), threading.get_ident()
        if other is not None and other._writing and other._writer == me:  # (it may be another thread's now)
            # A second write transaction on this database in one thread would wait for the first forever.
            raise RuntimeError(f"a write transaction on {self.lock_path} began while this thread holds another one")
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # leaves the GIL while it waits
        self._writer, self._writing = me, True
        held[self.lock_path] = self

    def done_writing(self) -> None:
        if self._writing and self._lock_fd is not None:
            self._writing = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.done_writing()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.done_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.done_writing()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _queued_writers(lock_path: str) -> type[QueuedWriterConnection]:
    return type("QueuedWriterConnection", (QueuedWriterConnection,), {"lock_path": lock_path})


T = TypeVar("T")
_INSERTED = "desk.inserted"  # ``Session.info``: the objects the session's transaction inserted


def session_factory(engine: Engine) -> sessionmaker[Session]:
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "pending_to_persistent", _hold_inserted)
    event.listen(sessions, "after_transaction_end", _forget_inserted)
    return sessions


def _hold_inserted(session: Session, instance: object) -> None:
    # The identity map holds its objects weakly. A row this transaction inserted, once nothing else held its
    # object, was read back by the next look-up (the notices read each new ticket again), and a savepoint's
    # rollback no longer knew it as new. What a transaction writes is in memory anyway until it flushes.
    session.info.setdefault(_INSERTED, []).append(instance)


def _forget_inserted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_INSERTED, None)


def inserted(session: Session, cls: type[T]) -> list[T]:
    """The objects of ``cls`` that the session's open transaction inserted (with ``session_factory``'s sessions; none
    with others). Their rows need no lock: no other transaction sees them before this one commits."""
    return [o for o in session.info.get(_INSERTED, ()) if isinstance(o, cls) and inspect(o).persistent]


class UnitOfWork:
    """One business transaction: ``with uow() as session: ...`` publishes its events and commits, or rolls back
    on error (and its events are dropped)."""

    def __init__(self, sessions: sessionmaker[Session], *, publish: events.Publish | None = None):
        self._sessions = sessions
        self._publish = publish

    def publishing(self, publish: events.Publish) -> UnitOfWork:
        """The same database, with ``publish`` as the hook (the composition root wires the bot's notices)."""
        return UnitOfWork(self._sessions, publish=publish)

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        session = self._sessions()
        engine = session.get_bind()
        with database_errors(engine.url):
            try:
                yield session
                self._publish_events(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def dry_run(self) -> Iterator[Session]:
        """A transaction that is rolled back whatever happens in it and publishes nothing: as if never done."""
        session = self._sessions()
        with database_errors(session.get_bind().url):
            try:
                yield session
            finally:
                session.rollback()
                session.close()

    @contextmanager
    def savepoint(self, session: Session) -> Iterator[Session]:
        """One part of this unit of work that fails alone (a message of a batch): at its end its events are
        published inside it; on an error its changes and events are rolled back and the rest goes on. What it
        noted in ``session.info`` (the events, the application's notes) is forgotten at its end either way, so
        the next part starts from what the transaction had before."""
        noted = dict(session.info)
        try:
            with session.begin_nested():
                yield session
                self._publish_events(session)
        except BaseException:
            # A row the savepoint inserted, whose object was garbage-collected and then loaded again inside it
            # (the notices read the new ticket back), is not known to the rollback as new: it would stay in
            # the identity map, and on SQLite the next part's new row takes its id. The database is right;
            # the session forgets what it loaded and reads again.
            session.expunge_all()
            raise
        finally:
            session.info.clear()
            session.info.update(noted)

    def _publish_events(self, session: Session) -> None:
        if self._publish is None:
            events.take(session)
            return
        session.flush()  # the hook reads the rows the events name as this transaction left them
        # What the hook does may record events of its own; they are published in the same transaction too.
        while recorded := events.take(session):
            self._publish(session, recorded)

    def ping(self) -> None:
        """Raise ``DatabaseUnavailable`` unless the database answers; it reads only, so on SQLite it never waits
        for the write lock the worker or an accepting channel holds."""
        session = self._sessions()
        engine = session.get_bind()
        session.close()
        with database_errors(engine.url), engine.connect() as connection:
            connection.execution_options(**READ_ONLY).exec_driver_sql("SELECT 1")
