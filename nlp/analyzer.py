"""``analyze(text) -> Analysis``: intent, out-of-scope, sentiment and KB hits in one call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlp.embeddings import WARM_UP_TEXT, Embedder
from nlp.kb import Article, KbHit, KbIndex, guess_language, index_articles, saved_stamp
from nlp.registry import ModelError, ModelRegistry
from nlp.training import NlpBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysis:
    intent: str
    confidence: float
    out_of_scope: bool
    sentiment: str  # negative | neutral | positive
    frustration: float  # 0..1
    frustrated: bool  # at or above the model's strong-frustration threshold
    kb_hits: tuple[KbHit, ...]
    language: str
    answer_threshold: float  # the intent confidence the model's validation chose for KB answers
    cues: tuple[str, ...] = ()
    model_version: str = ""
    alarm_threshold: float = 0.0  # the confidence the model's validation chose for a security incident at once
    route_threshold: float | None = None  # ... for a routed ticket of a request or incident intent (None: answer's)
    # The text's sentence vector (``Analyzer.embed``'s space), so that comparing it with others embeds it once.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


class Analyzer:
    """Holds the embedder, the active model version and the KB index; reloads a newly activated model."""

    # Hits kept per message: the policy offers the best one written for the intent read, which is not always
    # among the first three (agents and notices are shown the first three).
    def __init__(self, *, embedder: Embedder, registry: ModelRegistry, kb_index_dir: Path, kb_hits: int = 10):
        self._embedder = embedder
        self._registry = registry
        self._kb_dir = Path(kb_index_dir)
        self._kb_hits = kb_hits
        self._lock = threading.Lock()
        self._version, self._bundle = self._load()
        self._kb = KbIndex.load(self._kb_dir)
        if self._kb.model_id != embedder.model_id:
            raise ModelError(f"the KB index was built with {self._kb.model_id}, not {embedder.model_id}: "
                             "run 'deskbot kb reindex'")

    def _load(self) -> tuple[str, NlpBundle]:
        version, bundle = self._registry.load_active()
        if bundle.embedder_id != self._embedder.model_id:
            raise ModelError(f"model {version} needs {bundle.embedder_id} embeddings; the embedder is "
                             f"{self._embedder.model_id} (retrain with 'deskbot nlp train')")
        try:  # a model pickled by older code can load and still fail on first use: find out now
            probe = ["my laptop will not start"]
            vectors, intent_vectors = bundle.intents.embed(self._embedder, probe)
            bundle.intent.predict(probe, intent_vectors)
            bundle.sentiment.predict(probe, vectors)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"model {version} does not run with this version of deskbot "
                             f"({type(exc).__name__}: {exc}); retrain with 'deskbot nlp train'") from exc
        return version, bundle

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def kb(self) -> KbIndex:
        return self._kb

    def reload(self) -> bool:
        """Pick up a newly activated model; on any failure keep serving the current one."""
        if self._registry.active_version() == self._version:
            return False
        try:
            version, bundle = self._load()
        except ModelError as exc:
            log.error("model reload failed, still serving %s: %s", self._version, exc)
            return False
        with self._lock:
            self._version, self._bundle = version, bundle
        log.info("now serving model %s", version)
        return True

    def use_kb(self, articles: Sequence[Article], *, stamp: str) -> bool:
        """Serve ``articles`` (the desk's published ones, ``stamp`` saying which) from now on; False if this is what
        is served already. The index on disk is reused when another process saved these articles already, else
        rebuilt from the one in hand (only changed sections are embedded) and saved for the next start."""
        if stamp == self._kb.stamp:
            return False
        if saved_stamp(self._kb_dir) == stamp:
            index = KbIndex.load(self._kb_dir)
        else:
            index, _ = index_articles(articles, self._kb_dir, self._embedder, stamp=stamp, previous=self._kb)
        with self._lock:
            self._kb = index
        log.info("now serving %d KB articles (%d sections)", len(index.articles), len(index))
        return True

    def warm_up(self) -> None:
        """The embedding model loaded and run once, the classifier and the KB index used once: the first message
        after start waits for none of them."""
        self._embedder.warm_up()
        self.analyze_many([WARM_UP_TEXT])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The unit sentence vectors of ``texts`` (what ``Analysis.vector`` holds): their dot is their cosine."""
        return self._embedder.encode(self._embedder.readable(texts))

    def similarities(self, text: str, others: Sequence[str]) -> list[float]:
        """Cosine similarity of ``text`` to each of ``others`` (e.g. to spot many reports of one outage)."""
        if not others:
            return []
        vectors = self.embed([text, *others])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def search_kb(self, text: str, *, k: int | None = None) -> list[KbHit]:
        """The KB's best ``k`` articles for ``text`` (default: as many as ``analyze`` gives), found as ``analyze``
        finds them (keep the two alike): the same cut of the text, the same vector, the same guessed language."""
        with self._lock:
            bundle = self._bundle
        texts = self._embedder.readable([text])
        vectors, _ = bundle.intents.embed(self._embedder, texts)
        return self._kb.search(texts[0], vectors[0], k=k or self._kb_hits, lang=guess_language(texts[0]))

    def analyze(self, text: str) -> Analysis:
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]:
        """One embedding batch for all ``texts`` (the bot's workers call this in micro-batches)."""
        if not texts:
            return []
        with self._lock:
            version, bundle = self._version, self._bundle
        # Only what the model reads goes on, so the n-grams, sentiment cues, KB search and cached vectors all
        # see the same bounded text, and a 25 MB mail costs what a long one does.
        texts = self._embedder.readable(texts)
        vectors, intent_vectors = bundle.intents.embed(self._embedder, texts)
        intents = bundle.intent.predict(texts, intent_vectors)
        feelings = bundle.sentiment.predict(texts, vectors)
        from nlp.sentiment import FRUSTRATED

        out = []
        for text, vector, intent, feeling in zip(texts, vectors, intents, feelings):
            language = guess_language(text)
            hits = tuple(self._kb.search(text, vector, k=self._kb_hits, lang=language))
            out.append(Analysis(
                intent=intent.intent, confidence=intent.confidence, out_of_scope=intent.out_of_scope,
                sentiment=str(feeling.label), frustration=float(feeling.frustration), frustrated=feeling.frustration >= FRUSTRATED,
                kb_hits=hits, language=language, answer_threshold=bundle.intent.answer_threshold,
                cues=feeling.cues, model_version=version, alarm_threshold=bundle.intent.alarm_threshold,
                route_threshold=bundle.intent.route_threshold, vector=vector,
            ))
        return out
