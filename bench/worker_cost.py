"""What one message costs the worker, stage by stage, in one process: the figures behind bench/e2e.py's throughput.

    .venv/bin/python bench/worker_cost.py [-n 320] [--per-transaction 1] [--database sqlite|postgresql]
                                          [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                          [--profile handle.prof]

A scratch desk set up as ``make run`` sets one up (db upgrade, kb import) with the repository's trained model
(var/models and var/kb_index from ``make nlp``; no embedding cache), ``n`` distinct IT mails (bench/e2e.py's) accepted into its inbox, then claimed, analysed and
handled by the real ``Pipeline`` in batches of ``DESKBOT_WORKER_BATCH_SIZE``, each stage timed on its own (wall
time, one thread, nothing else running). Prints milliseconds per message for accepting, claiming, analysing and
handling, and the SQL statements per message of each stage, the most frequent first. On 2 cores the worker's
processed/s cannot pass 1000 / (analyse + handle) when analysing and handling run side by side, nor 2000 /
(everything, serve's share included) when the machine is saturated. ``--profile``: the handling stage under cProfile
(its times then are cProfile's), the stats written to that file and the top functions printed. Not part of
``make test``.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import datetime as dt
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import event

from _e2e_desk import ROOT, scratch_database
from _e2e_load import it_texts

DESKBOT = str(Path(sys.executable).with_name("deskbot"))


def _statement_kind(statement: str) -> str:
    """"SELECT FROM tickets", "INSERT INTO audit_entries", "UPDATE inbox", "BEGIN IMMEDIATE"..."""
    words = statement.split()
    if words[0] == "SELECT":
        return f"SELECT FROM {words[words.index('FROM') + 1] if 'FROM' in words else '?'}"
    return " ".join(words[:3] if words[0] == "INSERT" else words[:2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=320, help="messages (default 320)")
    parser.add_argument("--per-transaction", type=int, default=None,
                        help="DESKBOT_WORKER_MESSAGES_PER_TRANSACTION (default: deskbot's)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", type=Path, help="cProfile the handling stage into this file")
    args = parser.parse_args()
    if not (ROOT / "var" / "models").is_dir():
        sys.exit("bench/worker_cost.py: no trained model in var/: run 'make nlp' first")
    with tempfile.TemporaryDirectory(prefix="deskbot-cost-") as tmp, \
            scratch_database(args.database, Path(tmp), args.postgres) as database:
        for key in [k for k in os.environ if k.startswith("DESKBOT_")]:
            del os.environ[key]
        data = Path(tmp) / "var"
        for part in ("models", "kb_index"):  # not var/nlp: its embedding cache would answer for the model
            shutil.copytree(ROOT / "var" / part, data / part)
        os.environ.update(DESKBOT_DATABASE_URL=database.url, DESKBOT_DATA_DIR=str(data),
                          DESKBOT_KB_DIR=str(ROOT / "kb_articles"), DESKBOT_LOG_LEVEL="warning")
        if args.per_transaction is not None:
            os.environ["DESKBOT_WORKER_MESSAGES_PER_TRANSACTION"] = str(args.per_transaction)
        for step in (["db", "upgrade"], ["kb", "import"]):
            subprocess.run([DESKBOT, *step], check=True, capture_output=True, cwd=tmp)
        run(args.n, args.database, args.profile and args.profile.resolve())


def run(count: int, database: str, profile: Path | None) -> None:
    from bot.composition import Deskbot
    from bot.conversation import ConversationRef, Identity, InboundMessage
    from bot.settings import Settings

    deskbot = Deskbot(Settings())
    pipeline = deskbot.pipeline  # loads and warms the model
    statements: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    stage = ["setup"]

    @event.listens_for(deskbot.engine, "before_cursor_execute")
    def count_statement(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001, ARG001
        statements[stage[0]][_statement_kind(statement)] += 1

    seconds: dict[str, float] = collections.defaultdict(float)
    profiler = cProfile.Profile() if profile else None
    now = dt.datetime.now(dt.UTC)
    stage[0] = "accept"
    started = time.perf_counter()
    for i, (subject, body) in enumerate(it_texts(count)):
        who = f"employee{i}@corp.example"
        pipeline.accept(InboundMessage(
            key=f"email:<cost-{uuid.uuid4()}@corp.example>", conversation=ConversationRef("email", who, f"<c{i}>"),
            sender=Identity("email", who, who, who, True), received_at=now, subject=subject, text=body))
    seconds["accept"] = time.perf_counter() - started
    handled = 0
    while True:
        stage[0] = "claim"
        started = time.perf_counter()
        claimed = pipeline.claim()
        seconds["claim"] += time.perf_counter() - started
        if claimed is None:
            break
        stage[0] = "analyse"
        started = time.perf_counter()
        analysed = pipeline.analyse(claimed)
        seconds["analyse"] += time.perf_counter() - started
        stage[0] = "handle"
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        handled += pipeline.handle_batch(analysed)
        if profiler is not None:
            profiler.disable()
        seconds["handle"] += time.perf_counter() - started
    s = deskbot.bot_settings()
    print(f"{handled} messages on {database}, batches of {s.batch_size}, {s.messages_per_transaction} a transaction, "
          f"model {deskbot.analyzer.model_version} ({deskbot.settings.nlp_backend}, "
          f"{deskbot.settings.nlp_threads} thread(s))")
    print(f"{'stage':<8} {'ms/message':>10} {'statements/message':>19}")
    for name in ("accept", "claim", "analyse", "handle"):
        print(f"{name:<8} {1000 * seconds[name] / handled:>10.1f} {sum(statements[name].values()) / handled:>19.1f}")
    print(f"analyse + handle: {1000 * (seconds['analyse'] + seconds['handle']) / handled:.1f} ms/message")
    print("\nthe handling's statements per message:")
    for statement, n in statements["handle"].most_common(25):
        print(f"  {n / handled:6.2f}  {statement}")
    if profiler is not None:
        profiler.dump_stats(profile)
        print(f"\nthe handling under cProfile ({profile}), by cumulative time:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    deskbot.close()


if __name__ == "__main__":
    main()
