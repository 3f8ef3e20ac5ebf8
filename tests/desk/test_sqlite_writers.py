"""SQLite's writers queue on an flock beside the database (``desk.db.QueuedWriterConnection``).

A writer that commits and begins again at once no longer keeps another out (SQLite's own wait polls, sleeping up
to 100 ms between tries, and lost every race); a second write transaction in one thread fails at once instead of
waiting for itself forever; readers never queue; a process that dies holding the lock loses it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from desk import make_engine
from desk.db import READ_ONLY


@pytest.fixture
def sqlite_engine(tmp_path: Path):  # noqa: ANN201
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE writes (who TEXT)"))
    yield engine
    engine.dispose()


def test_a_writer_gets_in_between_the_transactions_of_one_that_never_pauses(sqlite_engine) -> None:  # noqa: ANN001
    stop, busy_writes = threading.Event(), [0]

    def busy() -> None:  # back-to-back write transactions, as a worker handling message after message
        while not stop.is_set():
            with sqlite_engine.begin() as connection:
                connection.execute(text("INSERT INTO writes VALUES ('busy')"))
                time.sleep(0.005)  # the work of a message, holding the lock
            busy_writes[0] += 1

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        while busy_writes[0] < 5:
            time.sleep(0.01)
        for _ in range(20):  # twenty accepts, each a transaction of its own, while the busy writer goes on
            with sqlite_engine.begin() as connection:
                connection.execute(text("INSERT INTO writes VALUES ('accept')"))
        still_busy = not stop.is_set() and worker.is_alive()
    finally:
        stop.set()
        worker.join(30)
    assert still_busy
    with sqlite_engine.connect() as connection:
        rows = [who for (who,) in connection.execute(text("SELECT who FROM writes ORDER BY rowid"))]
    accepts = [i for i, who in enumerate(rows) if who == "accept"]
    assert len(accepts) == 20
    # interleaved with the busy writer's transactions, not all squeezed in after it stopped
    assert any(who == "busy" for who in rows[accepts[-1]:])
    assert sum(1 for who in rows[accepts[0]:accepts[-1]] if who == "busy") >= 5


def test_a_second_write_transaction_in_one_thread_fails_at_once(sqlite_engine) -> None:  # noqa: ANN001
    with sqlite_engine.begin() as outer:
        outer.execute(text("INSERT INTO writes VALUES ('outer')"))
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="began while this thread holds another one"):
            with sqlite_engine.begin() as inner:
                inner.execute(text("INSERT INTO writes VALUES ('inner')"))
        assert time.monotonic() - started < 5
        # a reader is not a writer: it reads its snapshot beside the open write transaction
        with sqlite_engine.connect().execution_options(**READ_ONLY) as reader:
            assert reader.execute(text("SELECT count(*) FROM writes")).scalar() == 0
    with sqlite_engine.begin() as after:  # the failed one left nothing held
        after.execute(text("INSERT INTO writes VALUES ('after')"))
    with sqlite_engine.connect() as connection:
        assert [w for (w,) in connection.execute(text("SELECT who FROM writes ORDER BY rowid"))] == ["outer", "after"]


def test_a_rolled_back_transaction_and_a_dead_process_release_the_queue(sqlite_engine, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(ZeroDivisionError):
        with sqlite_engine.begin() as connection:
            connection.execute(text("INSERT INTO writes VALUES ('rolled back')"))
            1 / 0  # noqa: B018
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from sqlalchemy import text\n"
        "from desk import make_engine\n"
        f"engine = make_engine({str(sqlite_engine.url)!r})\n"
        "connection = engine.connect()\n"
        "connection.begin()\n"
        "connection.execute(text(\"INSERT INTO writes VALUES ('holder')\"))\n"
        "print('holding', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        holder.kill()  # dies in its transaction, holding the lock
        holder.wait(10)
        with sqlite_engine.begin() as connection:
            connection.execute(text("INSERT INTO writes VALUES ('next')"))
    finally:
        if holder.poll() is None:
            holder.kill()
    with sqlite_engine.connect() as connection:
        assert [w for (w,) in connection.execute(text("SELECT who FROM writes"))] == ["next"]
