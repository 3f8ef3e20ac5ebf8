"""MiniLM's top layer tuned on the intents, with the real packaged model (torch, one thread; the bundle served
at the end runs on deskbot's default backend, through ``real_nlp``).

The tuned layer takes the token states below the top layer; left untouched it must give back
the packaged embedding exactly, and tuned it must pull each intent's texts together. A bundle
with a tuned layer is stored, loaded and served by the analyzer like any other.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from nlp import Analyzer, HashingEmbedder, IntentExample, ModelRegistry, TopLayer, TorchEmbedder, train_and_register
from nlp.examples import load_intent_examples, split_examples
from nlp.tuning import TUNE_FROM_PER_INTENT, can_tune, worth_tuning

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "nlp" / "data"
INTENTS = ("password_reset", "printer_problem", "vpn_connection", "wifi_connection", "oos")


@pytest.fixture(scope="module")
def embedder() -> TorchEmbedder:
    return TorchEmbedder(threads=1)


@pytest.fixture(scope="module")
def examples() -> list[IntentExample]:
    return [e for e in load_intent_examples(DATA / "intents") if e.intent in INTENTS]


def _class_cohesion(vectors: np.ndarray, labels: list[str]) -> float:
    """Mean cosine of each text to its own intent's centroid."""
    labels_a = np.array(labels)
    total = []
    for label in set(labels):
        rows = vectors[labels_a == label]
        centre = rows.mean(axis=0)
        total.append(rows @ (centre / np.linalg.norm(centre)))
    return float(np.concatenate(total).mean())


def test_the_states_pass_gives_the_same_embedding(embedder: TorchEmbedder) -> None:
    texts = ["I forgot my password", "the printer on floor 3 is jammed", "hi", "VPN drops every 10 min!!!"]
    states = embedder.encode_states(texts)
    np.testing.assert_allclose(states.vectors, embedder.encode(texts), atol=1e-5)
    assert [s.shape[1] for s in states.states] == [384] * 4
    assert states.states[2].shape[0] == 3  # [CLS] hi [SEP]: padding is cut off


def test_an_untouched_top_layer_gives_back_the_packaged_embedding(embedder: TorchEmbedder,
                                                                  examples: list[IntentExample]) -> None:
    texts = [e.text for e in examples[:40]]
    states = embedder.encode_states(texts)
    untouched = TopLayer.tune(model_path=embedder.model_path, states=states.states, vectors=states.vectors,
                              labels=[e.intent for e in examples[:40]], epochs=0)
    cosines = np.sum(untouched.encode(states.states) * states.vectors, axis=1)
    assert cosines.min() > 0.9999


def test_tuning_pulls_each_intents_texts_together_and_survives_pickling(embedder: TorchEmbedder,
                                                                       examples: list[IntentExample]) -> None:
    texts, labels = [e.text for e in examples], [e.intent for e in examples]
    states = embedder.encode_states(texts)
    tuned = TopLayer.tune(model_path=embedder.model_path, states=states.states, vectors=states.vectors,
                          labels=labels, epochs=3)
    vectors = tuned.encode(states.states)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    before, after = _class_cohesion(states.vectors, labels), _class_cohesion(vectors, labels)
    assert after > before + 0.05, (before, after)
    assert tuned.trained_texts == len(texts) and tuned.epochs == 3 and tuned.seconds > 0

    again = pickle.loads(pickle.dumps(tuned))
    assert again._module is None  # stored as arrays, rebuilt on first use
    np.testing.assert_allclose(again.encode(states.states), vectors, atol=1e-5)


def test_a_bundle_with_a_tuned_layer_is_registered_and_served(tmp_path: Path, real_nlp,  # noqa: ANN001
                                                              examples: list[IntentExample]) -> None:
    cached, kb_dir = real_nlp.embedder, real_nlp.kb_dir  # the packaged model, its embedding cache and KB index
    registry = ModelRegistry(tmp_path / "models")
    result = train_and_register(data_dir=DATA, embedder=cached, registry=registry, intents=split_examples(examples),
                                tune=True)
    assert result.activated
    assert result.report["top_layer"]["tuned"] and result.report["top_layer"]["texts"] == len(split_examples(examples)["train"])
    _, bundle = registry.load_active()
    assert bundle.top_layer is not None

    analyzer = Analyzer(embedder=cached, registry=registry, kb_index_dir=kb_dir)
    reset, printer = analyzer.analyze_many(["I forgot my password and I'm locked out",
                                            "the printer on floor 3 is jammed again"])
    assert (reset.intent, printer.intent) == ("password_reset", "printer_problem")
    assert not reset.out_of_scope
    # The KB search still runs on the packaged embedding: the index was built with it.
    assert reset.kb_hits and reset.kb_hits[0].article_id


def test_by_default_only_enough_data_is_tuned(tmp_path: Path, examples: list[IntentExample]) -> None:
    packaged = [e.intent for e in split_examples(load_intent_examples(DATA / "intents"))["train"]]
    assert worth_tuning(packaged)  # about 70 training texts an intent: tried, and kept only if it helps on val
    assert not worth_tuning(["a"] * (TUNE_FROM_PER_INTENT - 1) + ["b"] * (TUNE_FROM_PER_INTENT - 1) + ["oos"] * 500)
    assert worth_tuning(["a"] * TUNE_FROM_PER_INTENT + ["b"] * TUNE_FROM_PER_INTENT + ["oos"] * 5)
    assert not worth_tuning(["oos"] * 500)
    # An embedder without layers trains as before, even when asked to tune.
    assert not can_tune(HashingEmbedder(64))
    result = train_and_register(data_dir=DATA, embedder=HashingEmbedder(256), registry=ModelRegistry(tmp_path),
                                intents=split_examples(examples), tune=True)
    assert result.report["top_layer"] == {"tuned": False}
