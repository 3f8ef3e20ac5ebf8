"""The embedding cache on disk keeps at most its bound of vectors and still returns the right ones."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from nlp.embeddings import CachedEmbedder, HashingEmbedder


def _entries(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM vectors").fetchone()[0]


def test_the_cache_never_holds_more_than_its_bound_and_still_returns_correct_vectors(tmp_path: Path) -> None:
    inner = HashingEmbedder()
    path = tmp_path / "embeddings.sqlite"
    cache = CachedEmbedder(inner, path, max_entries=10)
    texts = [f"my printer number {i} jams on page {i * 7}" for i in range(50)]
    for batch in (texts[0:7], texts[7:14], texts[14:28], texts[28:40]):  # two of them larger than the bound itself
        np.testing.assert_allclose(cache.encode(batch), inner.encode(batch), rtol=0, atol=1e-7)
        assert _entries(path) <= 10
    for text in texts[40:]:
        cache.encode([text])
    assert _entries(path) == 10
    misses = cache.misses
    np.testing.assert_allclose(cache.encode(texts[-10:]), inner.encode(texts[-10:]), rtol=0, atol=1e-7)
    assert cache.misses == misses  # the newest ten are kept
    np.testing.assert_allclose(cache.encode(texts[:3]), inner.encode(texts[:3]), rtol=0, atol=1e-7)
    assert cache.misses == misses + 3  # the oldest went first, and come back embedded again
    assert _entries(path) == 10


def test_a_bound_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CachedEmbedder(HashingEmbedder(), tmp_path / "e.sqlite", max_entries=0)


class _LoadingEmbedder(HashingEmbedder):
    """The hashing embedder with a model to load: counts its forward passes and whether it was loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded, self.passes = False, 0

    def encode(self, texts, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.loaded, self.passes = True, self.passes + 1
        return super().encode(texts, **kwargs)

    def warm_up(self) -> None:
        self.encode(["warm up"])


def test_warming_up_reaches_the_model_even_when_the_cache_knows_every_text(tmp_path: Path) -> None:
    first = CachedEmbedder(_LoadingEmbedder(), tmp_path / "e.sqlite")
    first.encode(["warm up", "my laptop will not start"])
    restarted = _LoadingEmbedder()  # a new process: the cache on disk has the texts, the model is not loaded
    cache = CachedEmbedder(restarted, tmp_path / "e.sqlite")
    cache.encode(["my laptop will not start"])
    assert not restarted.loaded  # a cache hit never loads the model: the first miss would wait for it
    cache.warm_up()
    assert restarted.loaded and restarted.passes == 1


def test_the_packaged_model_is_loaded_and_run_by_warming_up() -> None:
    from nlp.embeddings import TorchEmbedder

    embedder = TorchEmbedder(threads=1)
    embedder.warm_up()
    assert embedder._model is not None  # noqa: SLF001 - loaded now, not at the first message
