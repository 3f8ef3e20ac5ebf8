"""End-to-end throughput: a real ``deskbot serve`` driven over SMTP, against the raw speed of its model (issue 16).

    .venv/bin/python bench/e2e.py [--database sqlite|postgresql|both] [--backend torch|onnx|both] [-n 400] [-c 8]
                                  [--light 40] [--threads 1] [--workers 1[,2,4]] [--quick]
                                  [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each database and backend: a scratch database (a SQLite file, or a fresh PostgreSQL database dropped
afterwards), each number of worker processes (``DESKBOT_WORKERS``; 0: the worker is a thread of serve) and
a data folder prepared as ``make run`` prepares one (db upgrade, kb import, kb reindex, nlp train
--if-missing; the trained model comes from the repository's var/ when its backend matches, else from
var/bench/e2e/<backend>, trained there once). Then ``deskbot serve`` starts as a process with the email channel on
loopback, the company's MTA trusted as relay (senders are verified) and the replies relayed to a sink in this
process that notes when each arrived. After ``/health`` says ok it gets, first, a light load (one mail every
0.5 s, each in its own SMTP session: the first message after start against the tenth), then a burst of ``-n``
distinct IT mails from ``-c`` SMTP clients at once, while ``/health`` is asked every 50 ms. Times run from the
moment the 250 reached the client; "done" is when the bench first saw the inbox row done, polling read-only every
25 ms (not the row's done_at, which the worker stamps with its batch's claim time, before the analysis). With
several worker counts, the table adds the burst's processed/s against the first count's on the same database.

Measured in this process afterwards, with the same backend and thread count: the model alone, batches of 32
(sentences/s), and one sentence at a time (median). The issue's targets are printed beside the figures. Not
measured here: reply order within a conversation (every mail here is a conversation of its own). Minutes per database and backend on an idle machine; not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import platform
import smtplib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.settings import DEFAULT_NLP_BACKEND

from _e2e_desk import (
    CACHE,
    ROOT,
    BenchError,
    InboxWatcher,
    ReplySink,
    Serve,
    prepare_desk,
    scratch_database,
    seed_folder,
)
from _e2e_load import (
    EmbeddingBaseline,
    HealthSampler,
    Sent,
    embedding_baseline,
    it_texts,
    percentile,
    send_burst,
    send_paced,
)

LIGHT_EVERY = 0.5  # seconds between two mails at light load
STALL_SECONDS = 180.0  # no message done (or reply delivered) for this long: the run is broken, not slow
TARGET_PROCESSED_RATIO = 0.7
TARGET_ACCEPTS_PER_SECOND = 150
TARGET_HEALTH_MS = 100


@dataclass(frozen=True)
class LightResult:
    done_ms: list[float]  # accept to done
    delivered_ms: list[float]
    first_ms: float | None  # accept to done of the first message after start (None: it failed)
    tenth_ms: float | None  # ... and of the tenth (None: fewer than ten, or it failed)


@dataclass(frozen=True)
class BurstResult:
    messages: int
    accepted_per_s: float
    processed_per_s: float
    delivered_per_s: float
    done_ms: list[float]
    delivered_ms: list[float]
    answered_s: float  # first accept to the last reply at the sink
    saturated_accepts_per_s: float | None  # accepts between the first message done and the last accept
    health_ms: list[float]
    health_errors: int
    replies: int
    undelivered: int
    failed: int


@dataclass(frozen=True)
class Case:
    database: str
    backend: str
    workers: int
    ready_s: float
    light: LightResult
    burst: BurstResult

    @property
    def name(self) -> str:
        return f"{self.database}/{self.backend}/w{self.workers}"


def _wait(progress: Callable[[], int], total: int, what: str, serve: Serve) -> None:
    """Until ``progress()`` reaches ``total``; a BenchError when it stops moving for STALL_SECONDS."""
    last, moved = -1, time.monotonic()
    while (now := progress()) < total:
        serve.check_running()
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved > STALL_SECONDS:
            raise BenchError(f"{what}: stuck at {now} of {total} for {STALL_SECONDS:.0f} s:\n{serve.log_tail()}")
        time.sleep(0.25)


def _settle(inbox: InboxWatcher, sink: ReplySink, sent: Sequence[Sent], serve: Serve) -> None:
    """Waits until every sent message is done (or failed) and answered at the sink."""
    ids = [s.message_id for s in sent]
    _wait(lambda: sum(1 for i in ids if i in inbox.done or i in inbox.failed), len(ids), "messages done", serve)
    answerable = [i for i in ids if i not in inbox.failed]
    _wait(lambda: sum(1 for i in answerable if i in sink.arrivals), len(answerable), "replies delivered", serve)


def _latencies(sent: Sequence[Sent], at: dict[str, float]) -> list[float]:
    return [(at[s.message_id] - s.accepted_at) * 1000 for s in sent if s.message_id in at]


def run_light(serve: Serve, inbox: InboxWatcher, sink: ReplySink, count: int, *, start: int) -> LightResult:
    sent = send_paced(serve.desk.smtp_port, it_texts(count, start=start), LIGHT_EVERY, first_number=start)
    _settle(inbox, sink, sent, serve)
    first, tenth = (_latencies(sent[i : i + 1], inbox.done) for i in (0, 9))
    return LightResult(_latencies(sent, inbox.done), _latencies(sent, sink.arrivals), first[0] if first else None,
                       tenth[0] if tenth else None)


def run_burst(serve: Serve, inbox: InboxWatcher, sink: ReplySink, count: int, clients: int, *, start: int) -> BurstResult:
    texts = it_texts(count, start=start)
    replies_before = sink.replies
    sampler = HealthSampler(serve.desk.base_url)
    began = time.time()
    sent = send_burst(serve.desk.smtp_port, texts, clients, first_number=start)
    accepted_until = max(s.accepted_at for s in sent)
    try:
        _settle(inbox, sink, sent, serve)
    finally:
        health = sampler.stop()
    ids = [s.message_id for s in sent]
    done_at = [inbox.done[i] for i in ids if i in inbox.done]
    delivered_at = [sink.arrivals[i] for i in ids if i in sink.arrivals]
    first_done = min(done_at, default=accepted_until)
    saturated = [s for s in sent if s.accepted_at >= first_done]
    window = accepted_until - first_done
    return BurstResult(
        messages=count,
        accepted_per_s=count / (accepted_until - began),
        processed_per_s=len(done_at) / (max(done_at) - began) if done_at else 0.0,
        delivered_per_s=len(delivered_at) / (max(delivered_at) - began) if delivered_at else 0.0,
        done_ms=_latencies(sent, inbox.done), delivered_ms=_latencies(sent, sink.arrivals),
        answered_s=max(delivered_at, default=began) - began,
        saturated_accepts_per_s=len(saturated) / window if len(saturated) >= 2 and window > 0 else None,
        health_ms=health, health_errors=sampler.errors, replies=sink.replies - replies_before,
        undelivered=sum(1 for i in ids if i not in sink.arrivals), failed=sum(1 for i in ids if i in inbox.failed))


def run_case(database: str, backend: str, workers: int, args: argparse.Namespace, sink: ReplySink) -> Case:
    print(f"-- {database}/{backend}/w{workers}: preparing the desk", flush=True)
    with tempfile.TemporaryDirectory(prefix="deskbot-e2e-") as tmp, \
            scratch_database(database, Path(tmp), args.postgres) as db:
        desk = prepare_desk(Path(tmp), db, backend=backend, threads=args.threads, relay_port=sink.port)
        desk.env["DESKBOT_WORKERS"] = str(workers)
        inbox = InboxWatcher(db)
        try:
            serve = Serve(desk)
            try:
                print(f"-- {database}/{backend}: ready after {serve.ready_seconds:.1f} s; light load, "
                      f"{args.light} mails", flush=True)
                light = run_light(serve, inbox, sink, args.light, start=0)
                print(f"-- {database}/{backend}: burst, {args.n} mails from {args.c} clients", flush=True)
                burst = run_burst(serve, inbox, sink, args.n, args.c, start=args.light)
            except (smtplib.SMTPException, OSError) as exc:
                raise BenchError(f"sending mail to deskbot: {type(exc).__name__}: {exc}\n{serve.log_tail()}") from None
            finally:
                serve.stop()
        finally:
            inbox.close()
    return Case(database, backend, workers, serve.ready_seconds, light, burst)


# --- the table ---------------------------------------------------------------------------------------------------

def _f(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("  met" if ok else "  NOT met")


def table(cases: Sequence[Case], baselines: dict[str, EmbeddingBaseline]) -> list[str]:
    rows: list[tuple[str, list[str], str]] = []

    def row(label: str, cell: Callable[[Case], tuple[float | None, int, bool | None] | str], target: str = "") -> None:
        cells = []
        for case in cases:
            got = cell(case)
            cells.append(got if isinstance(got, str) else _f(got[0], got[1]) + _verdict(got[2]))
        rows.append((label, cells, target))

    def raw(case: Case) -> EmbeddingBaseline:
        return baselines[case.backend]

    def p(values: list[float], q: int) -> float | None:
        return percentile(values, q)

    row("serve ready after (s)", lambda c: (c.ready_s, 1, None))
    row("raw embedding, batch 32 (sentences/s)", lambda c: (raw(c).sentences_per_second, 1, None))
    row("raw embedding, one sentence (ms)", lambda c: (raw(c).single_ms, 1, None))
    row("burst: accepted/s", lambda c: (c.burst.accepted_per_s, 1, None))
    row("burst: processed/s (inbox done)", lambda c: (c.burst.processed_per_s, 2, None))
    row("burst: delivered/s (replies at the sink)", lambda c: (c.burst.delivered_per_s, 2, None))
    row("processed / raw", lambda c: (c.burst.processed_per_s / raw(c).sentences_per_second, 2,
                                      c.burst.processed_per_s >= TARGET_PROCESSED_RATIO * raw(c).sentences_per_second),
        f">= {TARGET_PROCESSED_RATIO}")
    def against_first(case: Case) -> tuple[float | None, int, bool | None] | str:
        first = next(c for c in cases if (c.database, c.backend) == (case.database, case.backend))
        if first is case or not first.burst.processed_per_s:
            return ""
        ratio = case.burst.processed_per_s / first.burst.processed_per_s
        return ratio, 2, (ratio >= 1.6 if (first.workers, case.workers) == (1, 2) else None)

    if len({c.workers for c in cases}) > 1:
        row("processed/s against the first worker count", against_first, "w2 >= 1.6 x w1")
    row("delivered / raw", lambda c: (c.burst.delivered_per_s / raw(c).sentences_per_second, 2, None))
    for q in (50, 95, 99):
        row(f"burst: accept to done p{q} (ms)", lambda c, q=q: (p(c.burst.done_ms, q), 0, None))
    for q in (50, 95, 99):
        row(f"burst: accept to delivered p{q} (ms)", lambda c, q=q: (p(c.burst.delivered_ms, q), 0, None))
    row("burst: all answered after (s)",
        lambda c: (c.burst.answered_s, 1, c.burst.answered_s <= c.burst.messages / (0.7 * raw(c).sentences_per_second)),
        "<= n / (0.7 x raw)")
    row("burst: SMTP accepts/s while saturated", lambda c: (
        c.burst.saturated_accepts_per_s, 1,
        None if c.burst.saturated_accepts_per_s is None else c.burst.saturated_accepts_per_s >= TARGET_ACCEPTS_PER_SECOND),
        f">= {TARGET_ACCEPTS_PER_SECOND}")
    row("burst: /health p95 every 50 ms (ms)", lambda c: (
        p(c.burst.health_ms, 95), 1, None if not c.burst.health_ms else p(c.burst.health_ms, 95) <= TARGET_HEALTH_MS),
        f"<= {TARGET_HEALTH_MS}")
    row("burst: /health max (ms), samples, errors",
        lambda c: f"{_f(max(c.burst.health_ms, default=None), 1)}, {len(c.burst.health_ms)}, {c.burst.health_errors}")
    row("burst: replies, undelivered, failed",
        lambda c: f"{c.burst.replies}, {c.burst.undelivered}, {c.burst.failed} (of {c.burst.messages})")
    row("light: accept to done p50 (ms)", lambda c: (
        p(c.light.done_ms, 50), 0, p(c.light.done_ms, 50) <= 2 * raw(c).single_ms + 20 if c.light.done_ms else None),
        "<= 2 x one sentence + 20")
    row("light: accept to delivered p50 (ms)", lambda c: (p(c.light.delivered_ms, 50), 0, None))
    row("light: first message after start (ms)", lambda c: (
        c.light.first_ms, 0,
        None if c.light.first_ms is None or c.light.tenth_ms is None else c.light.first_ms <= c.light.tenth_ms),
        "<= the tenth")
    row("light: tenth message (ms)", lambda c: (c.light.tenth_ms, 0, None))

    width = max(len(label) for label, _, _ in rows)
    columns = [max(len(c.name), *(len(cells[i]) for _, cells, _ in rows)) for i, c in enumerate(cases)]
    lines = [f"{'':<{width}}  " + "  ".join(f"{c.name:>{w}}" for c, w in zip(cases, columns)) + "  target"]
    for label, cells, target in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(cells, columns)) + f"  {target}")
    return lines


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or "?")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}; {platform.system()} {platform.release()}; Python " \
           f"{platform.python_version()}; load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--backend", choices=("torch", "onnx", "both"), default=DEFAULT_NLP_BACKEND,
                        help=f"the NLP backend (default {DEFAULT_NLP_BACKEND}, deskbot's default)")
    parser.add_argument("-n", type=int, default=None, help="mails of the burst (default 400; --quick: 40)")
    parser.add_argument("-c", type=int, default=None, help="SMTP clients at once in the burst (default 8; --quick: 4)")
    parser.add_argument("--light", type=int, default=None,
                        help="mails at light load, one every 0.5 s (default 40; --quick: 12)")
    parser.add_argument("--threads", type=int, default=1, help="DESKBOT_NLP_THREADS (default 1, deskbot's default)")
    parser.add_argument("--workers", default="1",
                        help="DESKBOT_WORKERS, one or several separated by commas (default 1, deskbot's default)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small -n, -c and --light")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="where to create (and drop) the scratch PostgreSQL database")
    args = parser.parse_args()
    args.n = args.n if args.n is not None else (40 if args.quick else 400)
    args.c = args.c if args.c is not None else (4 if args.quick else 8)
    args.light = args.light if args.light is not None else (12 if args.quick else 40)
    if min(args.n, args.c, args.light) < 1:
        parser.error("-n, -c and --light must be at least 1")
    try:
        worker_counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers: numbers separated by commas, not {args.workers!r}")
    if min(worker_counts) < 0:
        parser.error("--workers must be 0 or more")
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    backends = ("torch", "onnx") if args.backend == "both" else (args.backend,)
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    sink = ReplySink()
    cases: list[Case] = []
    failures: list[str] = []
    baselines: dict[str, EmbeddingBaseline] = {}
    try:
        for backend in backends:
            for database in databases:
                for workers in worker_counts:
                    try:
                        cases.append(run_case(database, backend, workers, args, sink))
                    except BenchError as exc:  # the other databases, backends and worker counts still run
                        failures.append(f"{database}/{backend}/w{workers}: {exc}")
                        print(f"-- {failures[-1]}", flush=True)
            if any(c.backend == backend for c in cases):
                print(f"-- {backend}: the raw model in this process, {args.threads} thread(s)", flush=True)
                nlp_dir = (seed_folder(backend) or CACHE / backend) / "nlp"
                baselines[backend] = embedding_baseline(backend, args.threads, nlp_dir)
    finally:
        sink.close()
    if cases:
        print(f"\n{args.n} mails from {args.c} SMTP clients (burst), {args.light} at one every {LIGHT_EVERY} s (light); "
              f"NLP threads {args.threads}; inbox polled every 25 ms; repository {ROOT}")
        print("\n".join(table(cases, baselines)))
    if failures:
        sys.exit("bench/e2e.py: " + "\n".join(f"{f.splitlines()[0]} (log above)" for f in failures))


if __name__ == "__main__":
    main()
