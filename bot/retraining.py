"""Retraining as a background job in a process of its own: what ``POST /api/v1/admin/retraining`` starts.

Training embeds thousands of texts and fits models for a minute or more; in the serving process it would hold
the CPU and the GIL that SMTP, HTTP and Slack's 3-second acks need. So ``Retraining.start`` spawns
``python -m bot.retraining JOB_FOLDER`` and returns at once. The child trains as ``deskbot nlp train`` does
(the packaged data plus the agent-confirmed labels, the guard that activates only a model not worse than the
active one) and writes its progress and its verdict to ``state.json`` in the job's folder under
``<data_dir>/retraining/``; its output goes to ``log.txt`` there. So the state outlives a page reload and a
restart of the server.

One job at a time, machine-wide: the parent takes an exclusive ``flock`` on ``<data_dir>/retraining/lock`` and
hands the open file to the child, which holds it until it exits, however it ends. Whether a job still runs is
whether that lock is held, so a training killed half way is not reported as running forever.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import fcntl
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.composition import Deskbot
    from bot.settings import Settings

LOG_TAIL = 20  # lines of the job's log shown with its state
_STATE, _LOG, _LOCK, _CURRENT = "state.json", "log.txt", "lock", "current"
_WRITE_EVERY = 0.5  # seconds between progress writes within a stage: a few per second is plenty for a page
# What the child must see as the server sees it; every other setting comes from the same environment and file.
_CHILD_SETTINGS = ("database_url", "data_dir", "nlp_backend", "nlp_model_path", "nlp_threads", "nlp_tune_top_layer",
                   "nlp_data_dir", "nlp_embedding_cache_entries")
log = logging.getLogger(__name__)


class JobStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # trained and measured: the verdict says whether it was activated
    FAILED = "failed"  # stopped by an error (or killed): no verdict


@dataclass(frozen=True)
class Verdict:
    """The activation guard's answer: the new version, and whether it went live and why."""

    version: str
    activated: bool
    reason: str
    previous: str | None  # the version active before
    metrics: dict[str, float]
    previous_metrics: dict[str, float] | None  # the active model measured on the same test split
    agent_confirmed: int  # agent-confirmed labels the training used


@dataclass(frozen=True)
class JobState:
    job: str
    status: JobStatus
    actor: str
    force: bool
    started: dt.datetime
    stage: str
    done: int = 0
    total: int | None = None  # of the stage; None: not counted
    pid: int | None = None  # the training process, once it runs
    finished: dt.datetime | None = None
    error: str | None = None
    verdict: Verdict | None = None

    @property
    def fraction(self) -> float | None:
        """How much of the current stage is done (1.0 once the job ended)."""
        if self.status is not JobStatus.RUNNING:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str, indent=1)

    @classmethod
    def from_json(cls, text: str) -> JobState:
        raw: dict[str, Any] = json.loads(text)
        raw["status"] = JobStatus(raw["status"])
        for name in ("started", "finished"):
            raw[name] = dt.datetime.fromisoformat(raw[name]) if raw.get(name) else None
        raw["verdict"] = Verdict(**raw["verdict"]) if raw.get("verdict") else None
        return cls(**raw)


class AlreadyRunning(Exception):
    def __init__(self, job: str | None):
        super().__init__(f"a retraining is running ({job or 'started elsewhere'}): wait for it to end")
        self.job = job


def _write_state(folder: Path, state: JobState) -> None:
    tmp = folder / f".{_STATE}.tmp"
    tmp.write_text(state.to_json())
    os.replace(tmp, folder / _STATE)  # a reader sees the old state or the new one, never half of one


def _new_job_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the shape of a job id (so that it may name a folder)."""
    stamp, _, tail = text.rpartition("-")
    day, _, clock = stamp.partition("-")
    return (len(day) == 8 and day.isdigit() and len(clock) == 6 and clock.isdigit() and len(tail) == 6
            and all(c in "0123456789abcdef" for c in tail))


class Retraining:
    """Starts retraining jobs and tells their state; one per HTTP app."""

    def __init__(self, *, folder: Path, child_env: Mapping[str, str], python: str = sys.executable):
        self.folder = Path(folder)
        self._env = dict(child_env)
        self._python = python

    @classmethod
    def from_settings(cls, settings: Settings) -> Retraining:
        env = dict(os.environ)
        for name in _CHILD_SETTINGS:
            value, key = getattr(settings, name), f"DESKBOT_{name.upper()}"
            if value is None:
                env.pop(key, None)
            elif isinstance(value, Path):
                env[key] = str(value.resolve())
            else:
                env[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return cls(folder=(settings.data_dir / "retraining").resolve(), child_env=env)

    def start(self, *, actor: str, force: bool = False) -> JobState:
        """Spawn a training process and return its first state; ``AlreadyRunning`` while one runs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AlreadyRunning(self._current()) from None
            now = dt.datetime.now(dt.UTC)
            state = JobState(job=_new_job_id(now), status=JobStatus.RUNNING, actor=actor, force=force, started=now,
                             stage="starting")
            folder = self.folder / state.job
            folder.mkdir()
            _write_state(folder, state)
            (self.folder / _CURRENT).write_text(state.job)
            try:
                with open(folder / _LOG, "ab") as output:
                    child = subprocess.Popen(
                        [self._python, "-m", "bot.retraining", str(folder), str(lock)], pass_fds=(lock,), env=self._env,
                        stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                        start_new_session=True)  # a Ctrl-C or restart of the server leaves the training be
            except OSError as exc:
                state = dataclasses.replace(state, status=JobStatus.FAILED, finished=dt.datetime.now(dt.UTC),
                                            error=f"could not start the training process: {exc}")
                _write_state(folder, state)
                return state
            threading.Thread(target=child.wait, name=f"retraining {state.job}", daemon=True).start()  # no zombie
            log.info("retraining %s started by %s (pid %s)", state.job, actor, child.pid)
            return state
        finally:
            os.close(lock)  # the child holds the lock now (it has its own descriptor of the same open file)

    def running(self) -> str | None:
        """The job that runs now, if any."""
        return self._current() if self._lock_held() else None

    def state(self, job: str) -> JobState | None:
        """The job's state (None: no such job); a job whose process is gone without a result is ``failed``."""
        if not is_job_id(job):
            return None
        folder = self.folder / job
        state = self._read(folder)
        if state is None or state.status is not JobStatus.RUNNING or self.running() == job:
            return state
        state = self._read(folder)  # it may have finished between the two looks
        if state is not None and state.status is JobStatus.RUNNING:
            return dataclasses.replace(state, status=JobStatus.FAILED, error="the training process ended without a "
                                                                             "result (killed?): see its log")
        return state

    def jobs(self, *, limit: int = 20) -> list[JobState]:
        """The newest jobs first."""
        if not self.folder.is_dir():
            return []
        names = sorted((p.name for p in self.folder.iterdir() if p.is_dir() and is_job_id(p.name)), reverse=True)
        return [s for s in (self.state(name) for name in names[:limit]) if s is not None]

    def log_tail(self, job: str, lines: int = LOG_TAIL) -> list[str]:
        try:
            text = (self.folder / job / _LOG).read_text(errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:]

    def _read(self, folder: Path) -> JobState | None:
        try:
            return JobState.from_json((folder / _STATE).read_text())
        except FileNotFoundError:
            return None

    def _current(self) -> str | None:
        try:
            return (self.folder / _CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _lock_held(self) -> bool:
        try:
            probe = os.open(self.folder / _LOCK, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(probe, fcntl.LOCK_UN)
            return False
        finally:
            os.close(probe)


# --- the child process ------------------------------------------------------------------------------------------


class _Reporter:
    """Writes the job's progress to its state file, as training reports it (a few times a second at most)."""

    def __init__(self, folder: Path, state: JobState):
        self.folder, self.state = folder, state
        self._written = 0.0

    def update(self, *, force_write: bool = True, **changes: Any) -> None:
        self.state = dataclasses.replace(self.state, **changes)
        now = time.monotonic()
        if force_write or now - self._written >= _WRITE_EVERY:
            _write_state(self.folder, self.state)
            self._written = now

    def stage(self, label: str, total: int | None) -> Any:
        log.info("%s%s", label, f" ({total})" if total else "")
        self.update(stage=label, done=0, total=total)
        return lambda n: self.update(force_write=False, done=self.state.done + n)


def run_job(folder: Path, deskbot: Deskbot) -> JobState:
    """Train as the job in ``folder`` asks, reporting into it; the final state (also written)."""
    from desk import administration, tickets
    from desk.domain import AdminAction
    from nlp import IntentExample, IntentRoles, load_intent_examples, train_and_register
    from nlp.training import headline

    state = JobState.from_json((folder / _STATE).read_text())
    reporter = _Reporter(folder, state)
    try:
        reporter.update(pid=os.getpid())
        reporter.stage("reading the agent-confirmed labels", None)
        with deskbot.uow() as session:
            confirmed = [IntentExample(t, i) for t, i in tickets.confirmed_intent_examples(session=session)]
        labels = {e.intent for e in load_intent_examples(deskbot.nlp_data_dir / "intents")} | {
            e.intent for e in confirmed}
        for warning in deskbot.taxonomy.check_training_labels(labels):
            log.warning("%s", warning)
        result = train_and_register(data_dir=deskbot.nlp_data_dir, embedder=deskbot.embedder,
                                    registry=deskbot.registry, extra=confirmed, force=state.force,
                                    progress=reporter.stage, tune=deskbot.settings.nlp_tune_top_layer,
                                    roles=IntentRoles(*deskbot.taxonomy.intent_roles()))
        verdict = Verdict(version=result.version, activated=result.activated, reason=result.reason,
                          previous=result.previous, metrics=headline(result.report),
                          previous_metrics=result.previous_metrics, agent_confirmed=len(confirmed))
        log.info("%s %s: %s", result.version, "activated" if result.activated else "NOT activated", result.reason)
        now = dt.datetime.now(dt.UTC)
        with deskbot.uow() as session:
            administration.record(session=session, actor=state.actor, action=AdminAction.MODEL_RETRAINING,
                                  target=result.version, new=result.reason, now=now)
            if result.activated:
                administration.record(session=session, actor=state.actor, action=AdminAction.MODEL_ACTIVATED,
                                      target=result.version, old=result.previous, new=result.version, now=now)
        reporter.update(status=JobStatus.FINISHED, stage="done", finished=now, verdict=verdict)
    except Exception as exc:  # noqa: BLE001 - whatever stopped it, the job says so instead of running forever
        log.exception("retraining %s failed", state.job)
        reporter.update(status=JobStatus.FAILED, finished=dt.datetime.now(dt.UTC), error=f"{type(exc).__name__}: {exc}")
    return reporter.state


def main(argv: list[str]) -> int:
    """``python -m bot.retraining JOB_FOLDER LOCK_FD``: run the job, holding the lock (inherited) until its end."""
    from bot.composition import Deskbot
    from bot.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    folder, lock = Path(argv[1]), int(argv[2])
    deskbot = Deskbot(load_settings())
    try:
        state = run_job(folder, deskbot)
    finally:
        # The final state is written: the next job may start now, not only once this interpreter has wound down.
        fcntl.flock(lock, fcntl.LOCK_UN)
        deskbot.close()
    return 0 if state.status is JobStatus.FINISHED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
