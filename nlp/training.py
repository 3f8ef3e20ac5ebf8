"""Training, evaluation and the activation guard: what ``deskbot nlp train|evaluate`` run."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from nlp.embeddings import Embedder, Progress
from nlp.examples import (DataError, IntentExample, load_intent_examples, load_labelled_file, split_examples,
                          split_of)
from nlp.intent import OOS_RECALL_TARGET, IntentModel, IntentRoles
from nlp.registry import CONFUSION_FILE, REPORT_FILE, ModelError, ModelRegistry
from nlp.sentiment import SentimentExample, SentimentModel, load_sentiment_examples
from nlp.tuning import TopLayer, can_tune, worth_tuning

LIBRARIES = ("scikit-learn", "numpy", "torch", "sentence-transformers", "onnxruntime", "faiss-cpu", "bm25s")
# Start a Rich progress task: (description, total) -> advance callback.
ProgressFactory = Callable[[str, int], Progress]
T = TypeVar("T")


@dataclass(frozen=True)
class IntentStack:
    """The intent model and the tuned top layer that makes its vectors (None: the base sentence embedding)."""

    model: IntentModel
    top_layer: TopLayer | None = None
    # When training decided on tuning itself: the validation score with and without the tuned layer.
    val_scores: dict[str, float] | None = None

    def embed(self, embedder: Embedder, texts: Sequence[str], *, progress: Progress | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(the sentence embeddings, for the KB and sentiment; the intent model's vectors), from one pass."""
        return _embed_through(self.top_layer, embedder, texts, progress)


def _embed_through(top_layer: TopLayer | None, embedder: Embedder, texts: Sequence[str],
                   progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
    if top_layer is None:
        vectors = embedder.encode(list(texts), progress=progress)
        return vectors, vectors
    if not can_tune(embedder):
        raise ModelError(f"the intent model needs token states, which {embedder.model_id} does not give")
    states = embedder.encode_states(list(texts), progress=progress)  # type: ignore[attr-defined]
    return states.vectors, top_layer.encode(states.states)


@dataclass
class NlpBundle:
    """One model version: the intent and sentiment models, and the embedder they were trained on."""

    embedder_id: str
    intent: IntentModel
    sentiment: SentimentModel
    top_layer: TopLayer | None = None  # MiniLM's top layer tuned on the intents (versions before it: None)

    @property
    def intents(self) -> IntentStack:
        return IntentStack(self.intent, self.top_layer)


@dataclass(frozen=True)
class TrainingData:
    intents: dict[str, list[IntentExample]]  # train / val / test
    sentiment: dict[str, list[SentimentExample]]
    data_hash: str


def labelled_splits(train: Path, val: Path | None = None, test: Path | None = None) -> dict[str, list[IntentExample]]:
    """Train / val / test from an admin's labelled files; a split not given is cut from ``train`` by text hash."""
    rows = load_labelled_file(train)
    if val is not None and test is not None:
        return {"train": rows, "val": load_labelled_file(val), "test": load_labelled_file(test)}
    parts = split_examples(rows)
    for name, path in (("val", val), ("test", test)):
        if path is not None:
            parts["train"] += parts[name]
            parts[name] = load_labelled_file(path)
    return parts


def load_training_data(data_dir: Path, extra: Sequence[IntentExample] = (),
                       intents: dict[str, list[IntentExample]] | None = None) -> TrainingData:
    """The intent data (``intents``, or the base data under ``data_dir``) plus agent-confirmed examples
    (which only ever train), and the sentiment data under ``data_dir``."""
    intents = {k: list(v) for k, v in intents.items()} if intents is not None else \
        split_examples(load_intent_examples(Path(data_dir) / "intents"))
    held_out = {e.text.lower() for part in ("val", "test") for e in intents[part]}
    intents["train"] += [e for e in extra if e.text.lower() not in held_out]
    try:
        sentiment_rows = load_sentiment_examples(Path(data_dir) / "sentiment.csv")
    except (OSError, ValueError) as exc:
        raise DataError(str(exc)) from None
    sentiment: dict[str, list[SentimentExample]] = {"train": [], "val": [], "test": []}
    for row in sentiment_rows:
        sentiment[split_of(row.text)].append(row)
    digest = hashlib.sha256()
    for part in ("train", "val", "test"):
        for e in intents[part]:
            digest.update(f"i\0{part}\0{e.intent}\0{e.text}\n".encode())
        for s in sentiment[part]:
            digest.update(f"s\0{part}\0{s.sentiment}\0{s.frustration}\0{s.text}\n".encode())
    return TrainingData(intents, sentiment, digest.hexdigest()[:16])


@dataclass
class EmbeddingClock:
    """Time spent embedding, and how many texts the model itself embedded (cache misses)."""

    seconds: float = 0.0
    texts: int = 0

    @property
    def throughput(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0


def _clocked(embedder: Embedder, clock: EmbeddingClock | None, count: int, run: Callable[[], T]) -> T:
    """``run()`` (an embedding pass over ``count`` texts), its time and the model's cache misses added to ``clock``."""
    misses_before = getattr(embedder, "misses", None)
    started = time.perf_counter()
    result = run()
    if clock is not None:
        clock.seconds += time.perf_counter() - started
        clock.texts += (embedder.misses - misses_before) if misses_before is not None else count  # type: ignore[attr-defined]
    return result


def _embed(embedder: Embedder, texts: list[str], progress: ProgressFactory | None, label: str,
           clock: EmbeddingClock | None = None, stack: IntentStack | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sentence embeddings, intent vectors) of ``texts``: the same array unless ``stack`` has a tuned layer."""
    advance = progress(label, len(texts)) if progress else None
    top_layer = stack.top_layer if stack is not None else None
    return _clocked(embedder, clock, len(texts), lambda: _embed_through(top_layer, embedder, texts, advance))


MIN_TEXTS_PER_LABEL = 2  # a label with fewer cannot be learnt and measured


def check_parts(parts: dict[str, list[IntentExample]]) -> None:
    """Every problem of the labelled splits at once (``DataError``), before any embedding starts."""
    from collections import Counter

    counts = Counter(e.intent for e in parts["train"])
    problems = [f"label {label!r} has {n} training text(s), it needs at least {MIN_TEXTS_PER_LABEL}"
                for label, n in sorted(counts.items()) if n < MIN_TEXTS_PER_LABEL]
    if len([label for label in counts if label != "oos"]) < 2:
        problems.append("training needs at least two in-scope intents")
    if not parts["val"]:
        problems.append("training needs a validation split")
    for part in ("val", "test"):
        unknown = sorted({e.intent for e in parts[part]} - set(counts))
        if unknown:
            problems.append(f"the {part} texts have label(s) the training texts lack: {', '.join(unknown)}")
    if problems:
        raise DataError("; ".join(problems))


def _fit_intents(parts: dict[str, list[IntentExample]], embedder: Embedder, *, tune: bool | None,
                 oos_recall_target: float | None, progress: ProgressFactory | None,
                 clock: EmbeddingClock | None = None, roles: IntentRoles = IntentRoles()) -> tuple[IntentStack, dict[str, np.ndarray]]:
    """The intent model on train (thresholds on val), on a top layer tuned on train if ``tune`` (None: when
    there are enough texts an intent) and the embedder has layers; returns it and the intent vectors of
    the three splits. The out-of-scope threshold flags ``oos_recall_target`` of val's out-of-scope texts
    (None: the most it can at 85 % flag precision)."""
    check_parts(parts)
    decide_on_val = tune is None
    if tune is None:
        tune = worth_tuning([e.intent for e in parts["train"]])
    names = ("train", "val", "test")
    texts = [e.text for part in names for e in parts[part]]
    bounds = np.cumsum([0] + [len(parts[part]) for part in names])
    top_layer = None
    if tune and can_tune(embedder):
        advance = progress("embedding intent texts", len(texts)) if progress else None
        states = _clocked(embedder, clock, len(texts),
                          lambda: embedder.encode_states(texts, progress=advance))  # type: ignore[attr-defined]
        n_train = len(parts["train"])
        top_layer = TopLayer.tune(model_path=embedder.model_path,  # type: ignore[attr-defined]
                                  states=states.states[:n_train], vectors=states.vectors[:n_train],
                                  labels=[e.intent for e in parts["train"]], progress=progress)
        vectors = top_layer.encode(states.states)
    else:
        vectors = _embed(embedder, texts, progress, "embedding intent texts", clock)[0]

    def fit(vectors: np.ndarray, tuned: bool) -> tuple[IntentModel, dict[str, np.ndarray]]:
        split = {part: vectors[bounds[i]:bounds[i + 1]] for i, part in enumerate(names)}
        return IntentModel.train(parts["train"], split["train"], parts["val"], split["val"],
                                 oos_recall_target=oos_recall_target, roles=roles,
                                 train_vectors_tuned=tuned), split

    model, split = fit(vectors, top_layer is not None)
    if top_layer is None or not decide_on_val:
        return IntentStack(model, top_layer), split
    # Tuning was the data's size's call, not the admin's: the tuned layer stays only if it helps on val.
    plain, plain_split = fit(states.vectors, False)
    scores = {"tuned": model.evaluate(parts["val"], split["val"]).selection_score,
              "packaged": plain.evaluate(parts["val"], plain_split["val"]).selection_score}
    if scores["tuned"] > scores["packaged"]:
        return IntentStack(model, top_layer, scores), split
    return IntentStack(plain, None, scores), plain_split


def raw_throughput(embedder: Embedder, texts: Sequence[str], batch: int = 256) -> float:
    """Sentences per second of the model itself (no cache), on up to ``batch`` of ``texts``."""
    model = getattr(embedder, "inner", embedder)
    sample = list(texts)[:batch]
    model.encode(sample[:8])  # load and warm up
    started = time.perf_counter()
    model.encode(sample)
    return len(sample) / (time.perf_counter() - started)


def evaluate_bundle(bundle: NlpBundle, data: TrainingData, embedder: Embedder,
                    progress: ProgressFactory | None = None, clock: EmbeddingClock | None = None,
                    intent_test_vectors: np.ndarray | None = None) -> dict[str, Any]:
    """Intent and sentiment reports on the test splits (``intent_test_vectors``: already made by training)."""
    if bundle.embedder_id != embedder.model_id:
        raise ModelError(f"the model was trained on {bundle.embedder_id} embeddings, not {embedder.model_id}")
    intent_test, sentiment_test = data.intents["test"], data.sentiment["test"]
    if intent_test_vectors is None:
        intent_test_vectors = _embed(embedder, [e.text for e in intent_test], progress, "embedding test texts", clock,
                                     bundle.intents)[1]
    sentiment_vectors = _embed(embedder, [s.text for s in sentiment_test], progress, "embedding sentiment test texts",
                               clock)[0]
    intent_report = bundle.intent.evaluate(intent_test, intent_test_vectors)
    sentiment_report = bundle.sentiment.evaluate(sentiment_test, sentiment_vectors)
    return {"intent": intent_report.as_dict(), "sentiment": sentiment_report,
            "thresholds": {"out_of_scope": bundle.intent.oos_threshold, "answer": bundle.intent.answer_threshold,
                           "alarm": bundle.intent.alarm_threshold}
            | ({"route": bundle.intent.route_threshold} if bundle.intent.route_threshold is not None else {}),
            "top_layer": _top_layer_summary(bundle.top_layer)}


def _top_layer_summary(top_layer: TopLayer | None) -> dict[str, Any]:
    if top_layer is None:
        return {"tuned": False}
    return {"tuned": True, "texts": top_layer.trained_texts, "epochs": top_layer.epochs,
            "seconds": round(top_layer.seconds, 1)}


def headline(report: dict[str, Any]) -> dict[str, float]:
    i = report["intent"]
    return {"accuracy": i["accuracy"], "macro_f1": i["macro_f1"], "oos_precision": i["oos_precision"],
            "oos_recall": i["oos_recall"], "sentiment_accuracy": report["sentiment"].get("sentiment_accuracy", 0.0)}


@dataclass(frozen=True)
class TrainResult:
    version: str
    activated: bool
    reason: str
    report: dict[str, Any]
    previous: str | None
    previous_metrics: dict[str, float] | None
    folder: Path
    wall_seconds: float
    embedding: EmbeddingClock


def train_and_register(
    *,
    data_dir: Path,
    embedder: Embedder,
    registry: ModelRegistry,
    extra: Sequence[IntentExample] = (),
    intents: dict[str, list[IntentExample]] | None = None,
    oos_recall_target: float | None = OOS_RECALL_TARGET,
    tune: bool | None = None,
    roles: IntentRoles = IntentRoles(),
    force: bool = False,
    progress: ProgressFactory | None = None,
) -> TrainResult:
    """Train on the intent data (``intents`` or the base data) plus ``extra``, store a new version, and
    activate it if it is no worse than the active one on the same held-out split.

    With ``tune`` (None: when there are enough texts an intent) and an embedder with layers, MiniLM's
    top layer is first fine-tuned on the training split, and the intent model learns on its vectors.
    ``roles`` (the bot's: which intents it answers from the KB, routes, and raises a security alarm for) give
    each action a confidence threshold of its own, chosen on val. The out-of-scope flag catches
    ``oos_recall_target`` of val's out-of-scope texts (None: the most it can at 85 % flag precision)."""
    started = time.perf_counter()
    clock = EmbeddingClock()
    data = load_training_data(data_dir, extra, intents)
    parts = data.intents
    stack, vectors = _fit_intents(parts, embedder, tune=tune, oos_recall_target=oos_recall_target,
                                  progress=progress, clock=clock, roles=roles)
    s_train = data.sentiment["train"] + data.sentiment["val"]
    sentiment = SentimentModel.train(
        s_train, _embed(embedder, [s.text for s in s_train], progress, "embedding sentiment texts", clock)[0])
    bundle = NlpBundle(embedder.model_id, stack.model, sentiment, stack.top_layer)
    report = evaluate_bundle(bundle, data, embedder, progress, clock, intent_test_vectors=vectors["test"])
    if stack.val_scores is not None:
        report["top_layer"]["val_scores"] = stack.val_scores
    new = headline(report)

    previous, previous_metrics, reason = registry.active_version(), None, "first model"
    if previous is not None:
        try:
            _, old_bundle = registry.load_active()
            previous_metrics = headline(evaluate_bundle(old_bundle, data, embedder))
        except Exception as exc:  # noqa: BLE001 - damaged, or pickled by incompatible code
            reason = f"the active model {previous} cannot be evaluated ({type(exc).__name__}: {exc})"
    if previous_metrics is not None:
        worse = [f"{k} {new[k]:.3f} < {previous_metrics[k]:.3f}" for k in ("macro_f1", "oos_recall")
                 if new[k] < previous_metrics[k] - 1e-9]
        reason = ("worse than the active model " + previous + ": " + "; ".join(worse)) if worse else \
            f"not worse than the active model {previous}"
        activate = not worse or force
        if worse and force:
            reason += " (activated anyway: --force)"
    else:
        activate = True

    version = registry.save(bundle, {
        "data_hash": data.data_hash,
        "embedder": embedder.model_id,
        "metrics": new,
        "thresholds": report["thresholds"],
        "examples": {part: len(rows) for part, rows in parts.items()},
        "intent_data": "base" if intents is None else "files",
        "agent_confirmed_examples": len(extra),
        "top_layer": report["top_layer"],
        "libraries": _library_versions(),
    })
    folder = registry.folder(version)
    write_report(report, folder)
    if activate:
        registry.activate(version)
    return TrainResult(version, activate, reason, report, previous, previous_metrics, folder,
                       time.perf_counter() - started, clock)


def evaluate_intents(
    *,
    test: Sequence[IntentExample],
    embedder: Embedder,
    model: IntentStack | None = None,
    train: Sequence[IntentExample] = (),
    val: Sequence[IntentExample] = (),
    oos_recall_target: float | None = OOS_RECALL_TARGET,
    tune: bool | None = None,
    progress: ProgressFactory | None = None,
) -> tuple[IntentStack, Any]:
    """Measure ``model`` on ``test``; without a model, first train a throwaway one on ``train`` (+ ``val``),
    the way ``train_and_register`` does."""
    if model is None:
        if not train:
            raise DataError("give a model or training data")
        if not val:
            parts = split_examples(train)
            train, val = parts["train"] + parts["test"], parts["val"]
        model, vectors = _fit_intents({"train": list(train), "val": list(val), "test": list(test)}, embedder,
                                      tune=tune, oos_recall_target=oos_recall_target, progress=progress)
        return model, model.model.evaluate(test, vectors["test"])
    vectors = _embed(embedder, [e.text for e in test], progress, "embedding test texts", stack=model)[1]
    return model, model.model.evaluate(test, vectors)


def _library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def write_report(report: dict[str, Any], folder: Path) -> Path:
    """``report.json`` and ``confusion.png`` (the intent confusion matrix) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=1, default=float))
    labels, matrix = report["intent"]["labels"], np.array(report["intent"]["confusion"])
    fig, ax = plt.subplots(figsize=(12, 11))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (r, c), n in np.ndenumerate(matrix):
        if n:
            ax.text(c, r, str(n), ha="center", va="center", fontsize=6, color="white" if n > matrix.max() / 2 else "black")
    ax.set_title(f"intent confusion on the test split (accuracy {report['intent']['accuracy']:.3f}, "
                 f"macro-F1 {report['intent']['macro_f1']:.3f})")
    fig.tight_layout()
    path = folder / CONFUSION_FILE
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
