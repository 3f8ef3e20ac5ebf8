"""The long-running loops of ``deskbot serve`` and ``deskbot worker``: workers, dispatcher, monitors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import anyio.to_thread
import uvicorn

from bot.conversation import ChannelAdapter
from bot.dispatcher import Dispatcher
from bot.worker import AnalysedBatch, Pipeline
from bot.retention import purge_ended_chat_sessions, purge_expired

log = logging.getLogger("deskbot.runtime")
T = TypeVar("T")
PURGE_EVERY = 3600.0  # seconds: retention counts in days, and its query reads every handled row

# The event loop shares the GIL with worker threads that parse mail and run the NLP. At CPython's default
# of 5 ms each of the dozen hand-offs one HTTP request makes can wait 5 ms behind such a thread (/health
# took up to 100 ms while a large mail was parsed); at 1 ms it took at most 50.
GIL_SWITCH_SECONDS = 0.001


class Loops:
    """Runs until ``stop()``; in-flight work finishes, the rest stays in the inbox for the next start.

    Every process keeps its own NLP current (the active model, the KB index). ``work``: this process claims and
    handles inbox messages (not a ``serve`` whose worker processes do); ``housekeeping``: the desk's periodic work
    (expired KB answers, the SLA scan, retention), which a supervised worker process leaves to its ``serve``."""

    def __init__(self, *, pipeline: Pipeline, dispatchers: Sequence[Dispatcher] = (), work: bool = True,
                 housekeeping: bool = True, poll: float = 0.2, housekeeping_every: float = 60.0):
        self.pipeline = pipeline
        self.dispatchers = list(dispatchers)  # one per channel: a slow platform never holds up another
        self.work = work
        self.housekeeping = housekeeping
        self.poll = poll
        self.housekeeping_every = housekeeping_every
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._next_purge = 0.0  # monotonic time of the next retention purge: the first pass does one

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._nlp_refresh(), name="NLP refresh")]
        if self.work:
            # before serve answers (or a worker process says it is ready): the first message waits for no first use
            await anyio.to_thread.run_sync(self.pipeline.warm_up)
            self._tasks.append(asyncio.create_task(self._work(), name="worker"))
        if self.housekeeping:
            self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        for dispatcher in self.dispatchers:
            self._tasks.append(asyncio.create_task(self._dispatch(dispatcher), name=f"dispatcher {dispatcher.name}"))

    async def stop(self) -> None:
        self._stopping.set()
        self.pipeline.accepted.notify()  # the loops waiting for work see the stop at once
        for dispatcher in self.dispatchers:
            for channel in dispatcher.channels:
                self.pipeline.replied_on(channel).notify()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _work(self) -> None:
        """Two stages: the desk's claims a batch and hands it to the model, then does the desk work of the batch
        before (Python and the database) while the model analyses the new one (its forward pass leaves the GIL),
        so on two cores neither waits for the other. Every write of this worker is in the desk stage, one at a
        time: its claim never waits for its own handling's write lock (SQLite's). At most one batch is ahead."""
        accepted = self.pipeline.accepted
        analysed: AnalysedBatch | None = None  # waiting for its desk work
        while True:
            seen = accepted.generation
            claimed = None if self._stopping.is_set() else await self._in_thread(self.pipeline.claim)
            analysing = (asyncio.ensure_future(self._in_thread(self.pipeline.analyse, claimed))
                         if claimed is not None else None)
            if analysed is not None:
                await self._in_thread(self.pipeline.handle_batch, analysed)
            analysed = await analysing if analysing is not None else None
            if analysed is None and claimed is None:
                if self._stopping.is_set():
                    return  # what was claimed is handled
                # woken by this process's next accepted message (or serve's, through the pipe), else polls
                await accepted.wait(seen=seen, timeout=self.poll)

    @staticmethod
    async def _in_thread(work: Callable[..., T], *args: object) -> T | None:
        try:
            return await anyio.to_thread.run_sync(work, *args)
        except Exception:  # noqa: BLE001 - a broken database must not end the loop
            log.exception("worker loop error")
            return None

    async def _dispatch(self, dispatcher: Dispatcher) -> None:
        [channel] = dispatcher.channels  # one dispatcher per channel (``channel_dispatcher``)
        replied = self.pipeline.replied_on(channel)
        while not self._stopping.is_set():
            seen = replied.generation
            try:
                sent = await dispatcher.dispatch_once()
            except Exception:  # noqa: BLE001
                log.exception("dispatcher loop error")
                sent = 0
            if not sent:  # woken by this process's worker committing replies, else polls
                await replied.wait(seen=seen, timeout=self.poll)

    async def _housekeeping(self) -> None:
        while not self._stopping.is_set():
            try:
                await anyio.to_thread.run_sync(self.pipeline.expire_confirmations)
                await anyio.to_thread.run_sync(self.pipeline.scan_sla)
                await anyio.to_thread.run_sync(self._purge_expired)
                await anyio.to_thread.run_sync(lambda: purge_ended_chat_sessions(uow=self.pipeline.uow))
            except Exception:  # noqa: BLE001
                log.exception("housekeeping error")
            await self._sleep(self.housekeeping_every)

    async def _nlp_refresh(self) -> None:
        # Apart from housekeeping: its own, shorter interval, and a slow rebuild holds up no SLA scan.
        while not self._stopping.is_set():
            try:
                await anyio.to_thread.run_sync(self.pipeline.analyzer.reload)  # a newly activated model
                await anyio.to_thread.run_sync(self.pipeline.sync_kb)
            except Exception:  # noqa: BLE001 - a bad article or a broken database must not end the loop
                log.exception("NLP refresh error")
            await self._sleep(self.pipeline.settings.kb_refresh.total_seconds())

    def _purge_expired(self) -> None:
        retention = self.pipeline.settings.inbox_retention
        if retention is None or time.monotonic() < self._next_purge:
            return
        purge_expired(uow=self.pipeline.uow, retention=retention)
        self._next_purge = time.monotonic() + PURGE_EVERY


class DrainingServer(uvicorn.Server):
    """uvicorn re-raises the SIGTERM it caught once HTTP is down, which would kill the process
    before the workers finish the message in hand; this one lets ``run_service`` drain first."""

    @contextlib.contextmanager
    def capture_signals(self):  # noqa: ANN201
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


def channel_dispatcher(pipeline: Pipeline, name: str, adapter: ChannelAdapter) -> Dispatcher:
    """The outbox's dispatcher for one channel: a slow platform never holds up another."""
    return Dispatcher(uow=pipeline.uow, channels={name: adapter}, worker=f"{pipeline.worker}:{name}",
                      settings=pipeline.settings)


async def run_service(server: uvicorn.Server, pipeline: Pipeline | None, adapters: Mapping[str, ChannelAdapter], *,
                      worker_processes: int = 0) -> None:
    """HTTP, channels, workers, one dispatcher per channel and the monitors; the messages' work in this process
    or in ``worker_processes`` children (``bot.worker_processes``), which are ready before HTTP answers.

    SIGTERM stops the HTTP server (no new messages), then the workers and the loops finish what they hold;
    the rest stays in the inbox for the next start (see ``DrainingServer``).
    """
    from bot.http import warm_up
    from bot.worker_processes import WorkerProcesses

    await warm_up(server.config.app)
    loops = workers = None
    if pipeline is not None:
        if worker_processes:
            workers = WorkerProcesses(count=worker_processes, pipeline=pipeline)
            await workers.start()
        for adapter in adapters.values():
            await adapter.start(pipeline.receive)
        loops = Loops(pipeline=pipeline, work=workers is None,
                      dispatchers=[channel_dispatcher(pipeline, name, adapter) for name, adapter in adapters.items()])
        await loops.start()
    # What startup built (the model, the libraries) lives as long as the process. Frozen, it is left out
    # of every later garbage collection, which otherwise stalls the event loop 100-250 ms each time.
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    try:
        await server.serve()
    finally:
        for adapter in adapters.values():
            await adapter.stop()
        if workers is not None:
            await workers.stop()  # before the dispatchers: the replies of the last batches still go out
        if loops is not None:
            await loops.stop()
