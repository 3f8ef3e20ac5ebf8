"""Training, the activation guard, the registry and the analyzer's reloads (hashing embedder).

These check the admin's workflow, not accuracy; tests/nlp/test_quality.py measures the real model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nlp import (
    Analyzer,
    HashingEmbedder,
    IntentExample,
    ModelError,
    ModelRegistry,
    load_training_data,
    reindex,
    train_and_register,
)
from nlp.examples import DataError, load_intent_examples, split_examples, split_of

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "nlp" / "data"
EMBEDDER = HashingEmbedder(512)


# The workflow tests train several models each: eight intents and the out-of-scope examples train
# in a fraction of the time of the whole packaged data (the first test trains on all of it).
SMALL = {"vpn_connection", "printer_problem", "wifi_connection", "laptop_slow", "password_reset", "greeting",
         "thanks", "oos"}


def _small() -> dict[str, list[IntentExample]]:
    return split_examples([e for e in load_intent_examples(DATA / "intents") if e.intent in SMALL])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("models")
    registry = ModelRegistry(root)
    first = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry)
    return registry, first


def test_first_training_is_stored_with_metadata_and_activated(trained) -> None:  # noqa: ANN001
    registry, first = trained
    assert (first.version, first.activated, first.reason) == ("v0001", True, "first model")
    meta = json.loads((first.folder / "metadata.json").read_text())
    assert meta["embedder"] == EMBEDDER.model_id
    assert len(meta["data_hash"]) == 16
    assert {"scikit-learn", "numpy"} <= set(meta["libraries"])
    assert 0 < meta["metrics"]["macro_f1"] <= 1
    assert 0 < meta["thresholds"]["answer"] <= 1
    assert (first.folder / "confusion.png").stat().st_size > 10_000
    report = json.loads((first.folder / "report.json").read_text())
    assert "oos" in report["intent"]["per_intent"]
    assert registry.active_version() == "v0001"


def test_agent_confirmed_examples_train_but_never_leak_into_the_test_split() -> None:
    held_out = next(e for e in load_intent_examples(DATA / "intents") if split_of(e.text) == "test")
    extra = [IntentExample("the plotter on floor 3 prints only blank pages", "printer_problem"), held_out]
    data = load_training_data(DATA, extra)
    train_texts = {e.text for e in data.intents["train"]}
    assert extra[0].text in train_texts
    assert held_out.text not in train_texts
    assert data.data_hash != load_training_data(DATA).data_hash


def test_a_worse_model_is_kept_but_not_activated_unless_forced(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    same = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    assert same.activated and same.reason == "not worse than the active model v0001"

    # An agent mislabels every training utterance of four intents as a greeting.
    victims = {"vpn_connection", "printer_problem", "wifi_connection", "laptop_slow"}
    wrong = [IntentExample(e.text + " pls", "greeting") for e in load_intent_examples(DATA / "intents")
             if e.intent in victims and split_of(e.text) == "train"] * 3
    worse = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small(), extra=wrong)
    assert not worse.activated
    assert worse.reason.startswith(f"worse than the active model {same.version}: macro_f1")
    assert worse.report["intent"]["macro_f1"] < worse.previous_metrics["macro_f1"]
    assert registry.active_version() == same.version
    assert worse.version in {v.version for v in registry.versions()}

    forced = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small(), extra=wrong,
                                force=True)
    assert forced.activated and forced.reason.endswith("(activated anyway: --force)")
    registry.activate(same.version)  # roll back
    assert registry.active_version() == same.version


def test_rollback_walks_back_the_activations(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    v1, v2, v3 = (registry.save({"bundle": n}, {}) for n in range(3))
    (registry.root / "ACTIVE").write_text(v1)  # a registry from before the history: its active version counts
    for version in (v3, v2, v2):  # activating the active version again is no new step
        registry.activate(version)
    assert registry.activations() == [v1, v3, v2]
    assert registry.rollback() == v3 and registry.active_version() == v3
    assert registry.rollback() == v1 and registry.activations() == [v1]
    with pytest.raises(ModelError, match="no earlier active version"):
        registry.rollback()
    assert registry.active_version() == v1 and [v.version for v in registry.versions()] == [v1, v2, v3]


def test_a_corrupt_model_falls_back_to_the_previous_version(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = ModelRegistry(tmp_path / "models")
    train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    second = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    (second.folder / "model.joblib").write_bytes(b"not a pickle")
    with caplog.at_level(logging.ERROR):
        version, bundle = registry.load_active()
    assert version == "v0001"
    assert "v0002" in caplog.text and "damaged" in caplog.text and "serving the previous version v0001" in caplog.text
    with pytest.raises(ModelError, match="model v0002: .*model.joblib is damaged"):
        registry.activate("v0002")
    (second.folder / "model.joblib").unlink()
    with pytest.raises(ModelError, match="model v0002: .*model.joblib is missing"):
        registry.load("v0002")


def test_the_analyzer_reloads_a_new_model_and_survives_a_broken_one(trained, tmp_path: Path) -> None:  # noqa: ANN001
    registry = ModelRegistry(tmp_path / "models")
    first = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    reindex(ROOT / "kb_articles", tmp_path / "kb", EMBEDDER)
    analyzer = Analyzer(embedder=EMBEDDER, registry=registry, kb_index_dir=tmp_path / "kb")
    analysis = analyzer.analyze("my printer is offline and the print queue is stuck")
    assert analysis.model_version == first.version
    assert len(analysis.kb_hits) == 10  # the policy looks past the first three for the intent's own article
    assert analyzer.reload() is False  # nothing new

    second = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    assert analyzer.reload() is True and analyzer.model_version == second.version

    third = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry, intents=_small())
    (third.folder / "model.joblib").write_bytes(b"garbage")
    (registry.root / "ACTIVE").write_text(third.version)  # activated by hand, then damaged
    assert analyzer.reload() in (True, False)
    # whatever happened, the analyzer still answers, with a loadable version
    assert analyzer.analyze("hello").model_version in (first.version, second.version)


def test_batched_analysis_matches_one_by_one(trained, tmp_path: Path) -> None:  # noqa: ANN001
    registry, _ = trained
    reindex(ROOT / "kb_articles", tmp_path / "kb", EMBEDDER)
    analyzer = Analyzer(embedder=EMBEDDER, registry=registry, kb_index_dir=tmp_path / "kb")
    texts = ["vpn keeps disconnecting", "merci beaucoup", "THIS IS STILL BROKEN!!!", "where is the canteen"]
    batched, single = analyzer.analyze_many(texts), [analyzer.analyze(t) for t in texts]
    for a, b in zip(batched, single, strict=True):
        # the same decisions; floats may differ in the last bits between a batch and one row
        assert (a.intent, a.out_of_scope, a.sentiment, a.frustrated, a.language) == \
               (b.intent, b.out_of_scope, b.sentiment, b.frustrated, b.language)
        assert [h.article_id for h in a.kb_hits] == [h.article_id for h in b.kb_hits]
        assert a.confidence == pytest.approx(b.confidence, abs=1e-3)
        assert a.frustration == pytest.approx(b.frustration, abs=1e-3)
    assert analyzer.analyze_many([]) == []


def test_bad_training_data_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "intents").mkdir()
    (tmp_path / "intents" / "vpn.yaml").write_text("intent: vpn\nexamples: [ok, 42]\n")
    with pytest.raises(DataError, match="vpn.yaml: example 2 is not a non-empty text"):
        load_intent_examples(tmp_path / "intents")
    (tmp_path / "intents" / "vpn.yaml").write_text("examples: [a]\n")
    with pytest.raises(DataError, match="expected 'intent: <name>'"):
        load_intent_examples(tmp_path / "intents")


# --- an admin's own labelled files -------------------------------------------------------------------


def _labelled(intents: tuple[str, ...] = ("password_reset", "printer_problem", "vpn_connection", "oos")) -> list[IntentExample]:
    return [e for e in load_intent_examples(DATA / "intents") if e.intent in intents]


def test_labelled_files_are_read_as_csv_or_json(tmp_path: Path) -> None:
    from nlp import load_labelled_file

    csv_file = tmp_path / "data.csv"
    csv_file.write_text('label,text\nvpn_problem,"vpn drops, again"\noos,what is for lunch\n', encoding="utf-8")
    json_file = tmp_path / "data.json"
    json_file.write_text(json.dumps([["vpn drops, again", "vpn_problem"], ["what is for lunch", "oos"]]))
    expected = [IntentExample("vpn drops, again", "vpn_problem"), IntentExample("what is for lunch", "oos")]
    assert load_labelled_file(csv_file) == expected
    assert load_labelled_file(json_file) == expected


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.csv", "text,intent\nhello,greeting\n", "a.csv: the first line must name the columns 'text' and 'label'"),
    ("b.csv", "text,label\nhello,greeting\n,greeting\n", "b.csv: 1 unusable row(s): line 3: the text is empty"),
    ("c.json", '[["hello", "greeting"], ["no label"]]', "c.json: item 2 is not a [text, label] pair"),
    ("d.json", '{"hello": "greeting"}', "d.json: expected a JSON list of [text, label] pairs"),
    ("e.json", '[["hello", "greeting"', "e.json: not valid JSON"),
    ("f.txt", "hello\tgreeting\n", "f.txt: use a .csv file (columns text,label) or a .json list"),
])
def test_a_bad_labelled_file_names_the_file_and_the_place(tmp_path: Path, name: str, content: str, message: str) -> None:
    from nlp import load_labelled_file

    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_labelled_file(tmp_path / name)
    assert message in str(error.value)


def test_a_throwaway_model_on_files_is_measured_and_nothing_is_registered(tmp_path: Path) -> None:
    from nlp import evaluate_intents

    parts = split_examples(_labelled())
    model, report = evaluate_intents(test=parts["test"], embedder=EMBEDDER, train=parts["train"] + parts["val"])
    assert set(model.model.classes) == {"password_reset", "printer_problem", "vpn_connection"}
    assert model.top_layer is None  # the hashing embedder has no layers to tune
    assert report.support == len(parts["test"])
    assert 0.5 < report.accuracy <= 1.0  # n-grams alone separate these four well
    assert 0.0 <= report.oos_recall <= 1.0 and 0.0 <= report.oos_precision <= 1.0
    # a model measured on another labelled file, as `deskbot nlp evaluate --test FILE` does
    again, same = evaluate_intents(test=parts["test"], embedder=EMBEDDER, model=model)
    assert again is model and same.accuracy == report.accuracy


def test_training_on_files_replaces_the_packaged_intents(tmp_path: Path) -> None:
    from nlp import labelled_splits

    rows = _labelled()
    train_file = tmp_path / "train.json"
    train_file.write_text(json.dumps([[e.text, e.intent] for e in rows]))
    registry = ModelRegistry(tmp_path / "models")
    result = train_and_register(data_dir=DATA, embedder=EMBEDDER, registry=registry,
                                intents=labelled_splits(train_file), oos_recall_target=0.9)
    _, bundle = registry.load_active()
    assert set(bundle.intent.classes) == {"password_reset", "printer_problem", "vpn_connection"}
    assert bundle.intent.targets["oos_recall"] == 0.9
    assert json.loads((result.folder / "metadata.json").read_text())["intent_data"] == "files"
    assert result.wall_seconds > 0 and result.embedding.texts > 0


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it was asked to embed."""

    embedded = 0

    def encode(self, texts, **kwargs):  # noqa: ANN001, ANN003, ANN201
        CountingEmbedder.embedded += len(texts)
        return super().encode(texts, **kwargs)


def test_a_closed_set_trains_without_the_detector_and_says_out_of_scope_was_not_measured() -> None:
    from nlp import evaluate_intents

    parts = split_examples(_labelled(("password_reset", "printer_problem", "vpn_connection")))
    model, report = evaluate_intents(test=parts["test"], embedder=EMBEDDER, train=parts["train"] + parts["val"])
    assert model.model.detector is None and report.closed_set
    assert report.accuracy > 0.5 and 0.0 < report.macro_f1 <= 1.0
    assert not any(p.out_of_scope for p in model.model.predict(["printer jammed"], EMBEDDER.encode(["printer jammed"])))


def test_every_data_problem_is_reported_before_any_embedding(tmp_path: Path) -> None:
    from nlp import evaluate_intents, load_labelled_file

    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,greeting\n,greeting\nvpn,\nok,thanks\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"2 unusable row\(s\): line 3: the text is empty; line 4: the label is empty"):
        load_labelled_file(bad)
    train = [IntentExample("vpn drops", "vpn_connection"), IntentExample("vpn again", "vpn_connection"),
             IntentExample("printer jam", "printer_problem")]
    embedder = CountingEmbedder(512)
    with pytest.raises(DataError) as error:
        evaluate_intents(test=[IntentExample("wifi", "wifi_connection")], embedder=embedder, train=train,
                         val=[IntentExample("vpn", "vpn_connection")])
    message = str(error.value)
    assert "label 'printer_problem' has 1 training text(s)" in message
    assert "the test texts have label(s) the training texts lack: wifi_connection" in message
    assert CountingEmbedder.embedded == 0


def test_out_of_scope_is_a_class_and_each_action_gets_its_own_threshold() -> None:
    """Labelled out-of-scope texts are a column of the classifier: it takes probability from every intent and
    caps the in-scope score, so a training text of it is flagged; the answer threshold is chosen on the
    answered intents' predictions and the route threshold, never above it, on the routed ones'."""
    from nlp.intent import IntentModel, IntentRoles

    parts = _small()
    vectors = {part: EMBEDDER.encode([e.text for e in examples]) for part, examples in parts.items()}
    roles = IntentRoles(answered=("vpn_connection", "printer_problem", "wifi_connection", "password_reset"),
                        routed=("laptop_slow",))
    model = IntentModel.train(parts["train"], vectors["train"], parts["val"], vectors["val"], roles=roles)
    assert model.columns is not None and "oos" in model.columns and "oos" not in model.classes
    oos_texts = [e.text for e in parts["train"] if e.intent == "oos"]
    probs, scores = model.scores(oos_texts, EMBEDDER.encode(oos_texts))
    assert (probs.sum(axis=1) < 1).all() and (scores <= probs.sum(axis=1) + 1e-9).all()
    assert sum(p.out_of_scope for p in model.predict(oos_texts, EMBEDDER.encode(oos_texts))) >= 0.9 * len(oos_texts)
    assert model.route_threshold is not None and model.route_threshold <= model.answer_threshold

    closed = IntentModel.train(parts["train"], vectors["train"], parts["val"], vectors["val"], oos_class=False)
    assert closed.columns is None and closed.route_threshold is None
    assert sum(closed.scores(oos_texts, EMBEDDER.encode(oos_texts))[0].sum(axis=1) > 0.999) == len(oos_texts)
