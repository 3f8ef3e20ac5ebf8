"""Quality of the real NLP: the packaged all-MiniLM-L6-v2 on the project's own data.

Floors sit a few points under what was measured (figures in comments); the exact figures
are printed by ``deskbot nlp train`` and the benchmarks under bench/.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nlp.embeddings import CachedEmbedder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedder(real_nlp) -> CachedEmbedder:  # noqa: ANN001
    return real_nlp.embedder


@pytest.fixture(scope="module")
def trained(real_nlp, real_analyzer):  # noqa: ANN001, ANN201
    return real_nlp.result, real_analyzer, real_nlp.index


def test_intent_and_out_of_scope_on_the_held_out_split(trained) -> None:  # noqa: ANN001
    result, _, _ = trained
    intent = result.report["intent"]
    # measured 2026-12-02 (4,122 texts): accuracy 0.893, macro-F1 0.902, OOS precision 0.779 / recall 0.869, ECE 0.012
    assert intent["accuracy"] >= 0.85
    assert intent["macro_f1"] >= 0.86
    assert intent["oos_precision"] >= 0.72 and intent["oos_recall"] >= 0.75
    assert intent["expected_calibration_error"] <= 0.08
    # enough texts an intent to try the tuned top layer: kept only if it scored better on val
    top_layer = result.report["top_layer"]
    assert top_layer["tuned"] == (top_layer["val_scores"]["tuned"] > top_layer["val_scores"]["packaged"])
    # the answer threshold was chosen for 95 % precision on validation; on test it must stay high
    assert intent["answer_threshold_precision"] >= 0.90 and intent["answer_threshold_coverage"] >= 0.5


def test_sentiment_on_the_held_out_split(trained) -> None:  # noqa: ANN001
    result, _, _ = trained
    sentiment = result.report["sentiment"]
    # measured 2026-11-25: accuracy 0.865, frustrated precision 0.81 / recall 0.88
    assert sentiment["sentiment_accuracy"] >= 0.80
    assert sentiment["frustrated_recall"] >= 0.75


def test_kb_retrieval_on_the_labelled_queries(trained, embedder: CachedEmbedder) -> None:  # noqa: ANN001
    from nlp.kb import guess_language

    _, _, index = trained
    with (ROOT / "bench" / "data" / "kb_queries.csv").open(encoding="utf-8") as handle:
        rows = [(r["query"], set(r["relevant"].split("|"))) for r in csv.DictReader(handle)]
    vectors = embedder.encode([q for q, _ in rows])
    at1 = at5 = 0
    for (query, relevant), vector in zip(rows, vectors):
        ids = [h.canonical_id for h in index.search(query, vector, k=5, lang=guess_language(query))]
        at1 += ids[:1] and ids[0] in relevant
        at5 += any(i in relevant for i in ids)
    # measured 2026-11-25 (hybrid): recall@1 0.891, recall@5 0.992 over 258 queries
    assert at1 / len(rows) >= 0.85
    assert at5 / len(rows) >= 0.95


@pytest.mark.parametrize(
    ("text", "intent", "article"),
    [
        ("I forgot my password and can't log in", "password_reset", "KB-0001"),
        ("my account got locked after too many attempts", "account_locked", "KB-0003"),
        ("GlobalProtect says gateway not responding", "vpn_connection", "KB-0007"),
        ("j'ai oublié mon mot de passe", "password_reset", "KB-0001-fr"),
    ],
)
def test_typical_requests(trained, text: str, intent: str, article: str) -> None:  # noqa: ANN001
    _, analyzer, _ = trained
    a = analyzer.analyze(text)
    assert (a.intent, a.out_of_scope) == (intent, False)
    assert article in [h.article_id for h in a.kb_hits[:2]]


NOT_IT = [  # none of these is in nlp/data
    "when will my payslip for November be available?",
    "who is organising the team lunch on Friday?",
    "the coffee machine on the second floor is leaking",
    "how many days of parental leave do I get?",
    "can you recommend a good restaurant near the office",
    "I need to update my home address for payroll",
]


def test_out_of_scope_and_frustration(trained) -> None:  # noqa: ANN001
    _, analyzer, _ = trained
    flagged = [a.out_of_scope for a in analyzer.analyze_many(NOT_IT)]
    # the held-out out-of-scope recall is about 60 % at the 85 %-precision operating point
    assert sum(flagged) >= len(NOT_IT) // 2, flagged
    angry, calm = analyzer.analyze_many([
        "This is the THIRD time I report this, still broken, unacceptable!!!",
        "Could you help me set up the printer please?",
    ])
    assert not calm.out_of_scope
    assert angry.sentiment == "negative" and angry.frustrated
    assert calm.sentiment == "neutral" and not calm.frustrated


def test_the_bots_decisions_on_the_independent_held_out_set(trained) -> None:  # noqa: ANN001
    """A handful of bench/decisions.py's figures, with a margin, so that a data change that breaks them fails.
    The held-out set is only read here to measure; nothing is chosen on it (tests/data/heldout/README.md)."""
    from bot.policy import Action, State, decide, reading_of, thresholds_for
    from bot.worker import BotSettings
    from desk.taxonomy import Kind, packaged_taxonomy

    _, analyzer, _ = trained
    with (ROOT / "tests" / "data" / "heldout" / "decisions.csv").open(encoding="utf-8") as handle:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(handle)]
    taxonomy, settings = packaged_taxonomy(), BotSettings.defaults()
    answers = alarms = not_security = 0
    fitting = 0
    for (text, label), a in zip(rows, analyzer.analyze_many([text for text, _ in rows])):
        d = decide(reading_of(a, text=text, articles=analyzer.kb.articles), State(), thresholds_for(
            a, answer_threshold=settings.answer_threshold, retrieval=settings.retrieval_threshold))
        if d.action is Action.ANSWER_FROM_KB:
            answers += 1
            fitting += label in analyzer.kb.articles[d.article_id].intents
        if taxonomy.intents[label].kind is not Kind.SECURITY:
            not_security += 1
            alarms += d.action is Action.SECURITY_INCIDENT
    # measured 2026-12-02 (bench/decisions.py, model v0002): answered 16.0 %, answer precision 96.7 %,
    # security false alarms 1.2 % (issue #15's target is 0.5 %: not met yet)
    assert answers >= len(rows) // 10
    assert fitting / answers >= 0.95, f"answer precision {fitting}/{answers}"
    assert alarms / not_security <= 0.01, f"security false alarms {alarms}/{not_security}"
