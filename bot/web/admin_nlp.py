"""``/api/v1/admin/models`` and ``/admin/retraining``: the intent model's versions with their metrics and
confusion matrix, activation and rollback, and retraining as a background job in its own process
(``bot.retraining``): this process only starts it and reads its state, so serving never waits for it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from bot.retraining import AlreadyRunning, JobState, JobStatus, Retraining
from bot.web.auth import Principal, signed_in
from bot.web.errors import ApiError, ErrorCode
from desk import UnitOfWork, administration, tickets
from desk.domain import AdminAction
from nlp.registry import ModelError, UnknownVersion

if TYPE_CHECKING:
    from nlp.registry import ModelRegistry, ModelVersion

Admin = Annotated[Principal, Depends(signed_in)]


class Metrics(BaseModel):
    """Measured on the held-out test split; accuracy counts an in-scope text flagged out of scope as wrong."""

    accuracy: float | None = None
    macro_f1: float | None = None
    oos_precision: float | None = None
    oos_recall: float | None = None
    sentiment_accuracy: float | None = None


class ModelOut(BaseModel):
    version: str
    created: str
    active: bool
    data_hash: str
    embedder: str | None
    examples: dict[str, int]  # texts per split (train, val, test)
    agent_confirmed_examples: int
    metrics: Metrics
    confusion_url: str | None  # the PNG, when the version has one
    damaged: bool  # its metadata cannot be read: it cannot be activated

    @classmethod
    def of(cls, version: ModelVersion, registry: ModelRegistry, request: Request) -> ModelOut:
        meta = version.metadata
        png = registry.confusion_png(version.version)
        return cls(version=version.version, created=version.created, active=version.active,
                   data_hash=version.data_hash, embedder=meta.get("embedder"), examples=meta.get("examples", {}),
                   agent_confirmed_examples=meta.get("agent_confirmed_examples", 0), metrics=Metrics(**version.metrics),
                   confusion_url=request.url_for("confusion_png", version=version.version).path if png else None,
                   damaged=bool(meta.get("damaged")))


class IntentMetrics(BaseModel):
    intent: str
    precision: float
    recall: float
    f1: float
    support: int  # test texts of this intent


class ModelDetail(ModelOut):
    thresholds: dict[str, float]  # out_of_scope, answer
    per_intent: list[IntentMetrics]  # from the training report; empty when the version has none


class RetrainBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = False  # activate the new model even if it measures worse than the active one


class VerdictOut(BaseModel):
    version: str
    activated: bool
    reason: str  # e.g. "worse than the active model v0003: macro_f1 0.812 < 0.845"
    previous: str | None  # the version that was active
    metrics: dict[str, float]
    previous_metrics: dict[str, float] | None  # the active model on the same test split
    agent_confirmed: int
    model_url: str


class JobOut(BaseModel):
    job: str
    status: JobStatus
    actor: str
    force: bool
    started: dt.datetime
    finished: dt.datetime | None
    stage: str  # what it is doing now
    done: int  # of the stage's total
    total: int | None
    fraction: float | None  # of the stage, 1.0 once ended; None: the stage is not counted
    pid: int | None  # the training process (not the server's)
    error: str | None
    verdict: VerdictOut | None
    log_tail: list[str]

    @classmethod
    def of(cls, state: JobState, retraining: Retraining, request: Request) -> JobOut:
        verdict = None
        if state.verdict is not None:
            v = state.verdict
            verdict = VerdictOut(version=v.version, activated=v.activated, reason=v.reason, previous=v.previous,
                                 metrics=v.metrics, previous_metrics=v.previous_metrics,
                                 agent_confirmed=v.agent_confirmed,
                                 model_url=request.url_for("model_detail", version=v.version).path)
        return cls(job=state.job, status=state.status, actor=state.actor, force=state.force, started=state.started,
                   finished=state.finished, stage=state.stage, done=state.done, total=state.total,
                   fraction=state.fraction, pid=state.pid, error=state.error, verdict=verdict,
                   log_tail=retraining.log_tail(state.job))


class LabelsOut(BaseModel):
    labels: int  # agent-confirmed intents the next training adds to the packaged data
    by_intent: dict[str, int]


def model_error(exc: ModelError) -> ApiError:
    if isinstance(exc, UnknownVersion):
        return ApiError(404, ErrorCode.NOT_FOUND, str(exc))
    return ApiError(409, ErrorCode.CONFLICT, str(exc))  # damaged, or nothing to roll back to


# The API's routes and the console's pages both act through these (a ``ModelError`` says why not).


def _audit_activation(uow: UnitOfWork, actor: str, old: str | None, new: str) -> None:
    with uow() as session:
        administration.record(session=session, actor=actor, action=AdminAction.MODEL_ACTIVATED, target=new,
                              old=old, new=new, now=dt.datetime.now(dt.UTC))


def activate_model(*, uow: UnitOfWork, registry: ModelRegistry, actor: str, version: str) -> ModelVersion:
    """Serve ``version`` from now on (running workers pick it up), in the admin audit."""
    previous = registry.active_version()
    registry.get(version)
    registry.activate(version)
    _audit_activation(uow, actor, previous, version)
    return registry.get(version)


def roll_back_model(*, uow: UnitOfWork, registry: ModelRegistry, actor: str) -> ModelVersion:
    """Back to the version that was active before the active one, in the admin audit."""
    previous = registry.active_version()
    version = registry.rollback()
    _audit_activation(uow, actor, previous, version)
    return registry.get(version)


def detail_of_model(*, registry: ModelRegistry, version: str, request: Request) -> ModelDetail:
    found, report = registry.get(version), registry.report(version)
    per_intent: dict[str, Any] = (report or {}).get("intent", {}).get("per_intent", {})
    return ModelDetail(**ModelOut.of(found, registry, request).model_dump(),
                       thresholds=found.metadata.get("thresholds", {}),
                       per_intent=[IntentMetrics(intent=name, precision=m["precision"], recall=m["recall"],
                                                 f1=m["f1"], support=m["support"])
                                   for name, m in sorted(per_intent.items())])


def confirmed_labels(*, uow: UnitOfWork) -> LabelsOut:
    with uow() as session:
        confirmed = tickets.confirmed_intent_examples(session=session)
    by_intent = Counter(intent for _, intent in confirmed)
    return LabelsOut(labels=len(confirmed), by_intent=dict(sorted(by_intent.items())))


def nlp_router(*, uow: UnitOfWork, retraining: Retraining, registry: ModelRegistry) -> APIRouter:
    router = APIRouter()

    @router.get("/models", response_model=list[ModelOut])
    def models(request: Request) -> list[ModelOut]:
        """Every intent model version, oldest first, with its headline metrics; one is active."""
        return [ModelOut.of(v, registry, request) for v in registry.versions()]

    @router.get("/models/{version}", response_model=ModelDetail, name="model_detail")
    def model_detail(version: str, request: Request) -> ModelDetail:
        """One version with its thresholds and the per-intent table of its training report."""
        try:
            return detail_of_model(registry=registry, version=version, request=request)
        except ModelError as exc:
            raise model_error(exc) from exc

    @router.get("/models/{version}/confusion.png", name="confusion_png",
                responses={200: {"content": {"image/png": {}}}}, response_class=FileResponse)
    def confusion_png(version: str) -> FileResponse:
        """The intent confusion matrix on the test split (true intents down, predicted across)."""
        try:
            path = registry.confusion_png(version)
        except ModelError as exc:
            raise model_error(exc) from exc
        if path is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"model {version} has no confusion matrix")
        return FileResponse(path, media_type="image/png")

    @router.post("/models/{version}/activate", response_model=ModelOut)
    def activate(version: str, request: Request, admin: Admin) -> ModelOut:
        """Serve this version from now on (running workers pick it up)."""
        try:
            return ModelOut.of(activate_model(uow=uow, registry=registry, actor=admin.actor, version=version),
                               registry, request)
        except ModelError as exc:
            raise model_error(exc) from exc

    @router.post("/models/rollback", response_model=ModelOut)
    def rollback(request: Request, admin: Admin) -> ModelOut:
        """Back to the version that was active before the active one."""
        try:
            return ModelOut.of(roll_back_model(uow=uow, registry=registry, actor=admin.actor), registry, request)
        except ModelError as exc:
            raise model_error(exc) from exc

    @router.get("/retraining", response_model=list[JobOut])
    def jobs(request: Request) -> list[JobOut]:
        """The latest retraining jobs, newest first (the first one is running, if any runs)."""
        return [JobOut.of(s, retraining, request) for s in retraining.jobs()]

    @router.post("/retraining", response_model=JobOut, status_code=202)
    def start(body: RetrainBody, request: Request, admin: Admin) -> JobOut:
        """Train a new version from the packaged data and the agent-confirmed labels, in a process of its own;
        it goes live only if it measures no worse than the active one (unless ``force``). Follow it at
        ``GET /admin/retraining/{job}``."""
        try:
            state = retraining.start(actor=admin.actor, force=body.force)
        except AlreadyRunning as exc:
            raise ApiError(409, ErrorCode.CONFLICT, str(exc)) from exc
        return JobOut.of(state, retraining, request)

    @router.get("/retraining/labels", response_model=LabelsOut)
    def labels() -> LabelsOut:
        """How many agent-confirmed labels the next training will learn from."""
        return confirmed_labels(uow=uow)

    @router.get("/retraining/{job}", response_model=JobOut)
    def job(job: str, request: Request) -> JobOut:
        """A job's stage, progress and log; once finished, the guard's verdict."""
        state = retraining.state(job)
        if state is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no retraining job {job!r}")
        return JobOut.of(state, retraining, request)

    return router
