"""Email ingest benchmark: messages per second accepted by the SMTP server, each durably committed.

    .venv/bin/python bench/email_ingest.py [--messages 400] [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]

The real aiosmtpd server of channels/email answers 250 only after the inbox commit (the same
``desk.queue.accept_inbound`` the bot uses); clients are smtplib on loopback, one after the
other and 8 at once, on SQLite and on PostgreSQL (a scratch database, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from channels.email import EmailChannel
from desk import UnitOfWork, make_engine, migrate, queue, session_factory
from desk.models import InboxRow

SUPPORT = "support@deskbot.example"


def _mail(i: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = f"user{i}@corp.example", SUPPORT, f"Outlook crashes #{i}"
    m["Message-ID"] = f"<{uuid.uuid4().hex}@corp.example>"
    m.set_content("Outlook crashes when I open a PDF attachment. Please help.\n\nThanks\n")
    return m


def _run(url: str, messages: int) -> list[tuple[str, float]]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    uow = UnitOfWork(session_factory(engine))
    loop = asyncio.new_event_loop()
    channel = EmailChannel(host="127.0.0.1", port=0, addresses=(SUPPORT,), max_bytes=10_000_000)

    def accept(message) -> bool:  # noqa: ANN001
        with uow() as session:
            return queue.accept_inbound(session=session, key=message.key, channel="email",
                                        payload=message.to_json(), now=message.received_at) is not None

    async def on_message(message):  # noqa: ANN001, ANN202
        return await asyncio.to_thread(accept, message)

    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(channel.start(on_message))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)

    def client(count: int) -> None:
        with smtplib.SMTP("127.0.0.1", channel.port) as smtp:
            for i in range(count):
                smtp.send_message(_mail(i))

    results = []
    for clients in (1, 8):
        with uow() as s:
            before = s.scalar(select(func.count()).select_from(InboxRow))
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, [messages // clients] * clients))
        elapsed = time.perf_counter() - t0
        with uow() as s:
            stored = s.scalar(select(func.count()).select_from(InboxRow)) - before
        assert stored == (messages // clients) * clients, stored
        results.append((f"{clients} client{'s' if clients > 1 else ''}", stored / elapsed))
    asyncio.run_coroutine_threadsafe(channel.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows += [("SQLite", *r) for r in _run(f"sqlite:///{Path(folder) / 'ingest.db'}", args.messages)]
    name = f"deskbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        rows += [("PostgreSQL", *r) for r in _run(url, args.messages)]
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL skipped: {exc}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"{args.messages} mails per run, each committed to the inbox before the 250")
    print(f"{'database':<12} {'clients':<10} {'mails/s':>8}")
    for database, clients, rate in rows:
        print(f"{database:<12} {clients:<10} {rate:>8.0f}")


if __name__ == "__main__":
    main()
